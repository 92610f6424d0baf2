-- A record is used by one match at most within each kind of reconciliation: a bank line explains
-- one payout or transfer, and is booked by one ledger posting (the ledger is a separate question:
-- the bank reconciliation), and no counterpart is used twice. (A transfer's ledger entry books both
-- of its bank lines, one posting each, so ledger entries are checked per posting in
-- int_bank_lines_booked's unique tests.)
with sides as (
    select counterpart_type = 'ledger_entry' as is_ledger, bank_transaction_id as record_id
    from {{ ref('reconciliation_matches') }}
    union all
    select false, counterpart_id from {{ ref('reconciliation_matches') }} where counterpart_type <> 'ledger_entry'
)
select is_ledger, record_id, count(*) as uses
from sides
group by is_ledger, record_id
having count(*) > 1
