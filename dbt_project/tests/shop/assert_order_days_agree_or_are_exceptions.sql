-- Every Shopify order day either agrees with the ledger summary that books it (within the day's
-- tolerance), or is a reconciliation exception: amount_mismatch (matched, amounts differ),
-- missing_ledger_entry (no summary), unmatched_ledger_entry (a summary no day takes). Days after
-- the ledger's latest posting (not_yet_booked) are not due. Returns the days that are neither.
with days as (
    select * from {{ ref('int_orders_booked') }}
),

exceptions as (
    select * from {{ ref('reconciliation_exceptions') }}
),

expected as (
    select
        order_day_id,
        case
            when status = 'missing_ledger_entry' then 'missing_ledger_entry'
            when status = 'unmatched_ledger_entry' then 'unmatched_ledger_entry'
            when abs(amount_difference) > tolerance then 'amount_mismatch'
        end as exception_type,
        case
            when status = 'matched' then order_day_id || ',' || entry_id
            else order_day_id
        end as record_ids
    from days
    where status <> 'not_yet_booked'
)

select expected.*
from expected
left join exceptions
    on exceptions.exception_type = expected.exception_type
    and exceptions.record_ids = expected.record_ids
where expected.exception_type is not null
    and exceptions.exception_id is null
