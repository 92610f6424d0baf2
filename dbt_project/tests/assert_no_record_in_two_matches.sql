-- A record is used by one match at most within each kind of reconciliation (counterpart_type):
-- a bank line explains one payout, is one leg of one transfer, is booked by one ledger posting; a
-- deal has one invoice. Ledger documents are not checked here: one entry may book two bank lines
-- (the two legs of a transfer), one posting each, which int_bank_lines_booked's keys guarantee.
with sides as (
    select counterpart_type as kind, record_id from {{ ref('reconciliation_matches') }}
    union all
    select counterpart_type, counterpart_id from {{ ref('reconciliation_matches') }}
    where counterpart_type <> 'ledger_entry'
)
select kind, record_id, count(*) as uses
from sides
where record_id is not null
group by kind, record_id
having count(*) > 1
