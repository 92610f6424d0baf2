-- A record is used by one match at most: no bank line (on either side) and no counterpart twice.
with sides as (
    select bank_transaction_id as record_id from {{ ref('reconciliation_matches') }}
    union all
    select counterpart_id as record_id from {{ ref('reconciliation_matches') }}
)
select record_id, count(*) as uses
from sides
group by record_id
having count(*) > 1
