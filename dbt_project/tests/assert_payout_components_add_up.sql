-- Every payout's settled net is exactly its parts: gross − fees + refunds + disputes + other
-- (int_payouts_reconciled documents the identity; a row here is a part counted twice or missed).
select payout_id, settled_net, gross, fees, refunds, disputes, other
from {{ ref('int_payouts_reconciled') }}
where has_members
    and abs(settled_net - (gross - fees + refunds + disputes + other)) > 0.005
