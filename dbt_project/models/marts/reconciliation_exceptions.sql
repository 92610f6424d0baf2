-- What the reconciliation could not explain, by exception_type:
--   amount_mismatch     a matched bank line and payout whose amounts differ beyond the tolerance
--   unmatched_bank_line a processor line on the bank statement that matches no payout
--   missing_bank_line   a paid payout that should have arrived but is on no bank line
with matches as (
    select * from {{ ref('reconciliation_matches') }}
),

bank_lines as (
    select * from {{ ref('fct_bank_transactions') }}
),

payouts as (
    select * from {{ ref('stg_stripe__payouts') }}
    where status = 'paid'
),

last_bank_day as (
    select max(booking_date) as last_day from bank_lines
),

amount_mismatch as (
    select
        'amount_mismatch' as exception_type,
        abs(amount_difference) as amount,
        bank_transaction_id || ',' || counterpart_id as record_ids,
        bank_transaction_id,
        counterpart_id,
        'bank line ' || {{ as_text('bank_amount') }} || ' vs payout ' || {{ as_text('counterpart_amount') }} as detail
    from matches
    where abs(amount_difference) > {{ var('match_amount_tolerance') }}
),

unmatched_bank_line as (
    select
        'unmatched_bank_line' as exception_type,
        abs(bank_lines.amount) as amount,
        bank_lines.bank_transaction_id as record_ids,
        bank_lines.bank_transaction_id,
        cast(null as {{ dbt.type_string() }}) as counterpart_id,
        coalesce(bank_lines.remittance_info, '') as detail
    from bank_lines
    where upper(coalesce(bank_lines.remittance_info, '') || ' ' || coalesce(bank_lines.counterparty_name, '')) like '%STRIPE%'
        and bank_lines.amount > 0
        and bank_lines.bank_transaction_id not in (select bank_transaction_id from matches)
),

missing_bank_line as (
    select
        'missing_bank_line' as exception_type,
        payouts.amount,
        payouts.payout_id as record_ids,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        payouts.payout_id as counterpart_id,
        'payout arriving ' || {{ as_text('payouts.arrival_date') }} || ' not on any bank line' as detail
    from payouts
    cross join last_bank_day
    where payouts.payout_id not in (select counterpart_id from matches)
        and payouts.arrival_date <= {{ dbt.dateadd('day', -var('match_date_window_days'), 'last_bank_day.last_day') }}
),

unioned as (
    select * from amount_mismatch
    union all
    select * from unmatched_bank_line
    union all
    select * from missing_bank_line
),

final as (
    select
        {{ dbt.hash("exception_type || '|' || record_ids") }} as exception_id,
        exception_type,
        cast(amount as decimal(18, 2)) as amount,
        record_ids,
        bank_transaction_id,
        counterpart_id,
        detail,
        {{ dbt.current_timestamp() }} as detected_at
    from unioned
)

select * from final
