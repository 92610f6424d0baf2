-- Every match whose amounts differ beyond the tolerance must be reported as an amount_mismatch.
select m.match_id
from {{ ref('reconciliation_matches') }} as m
left join {{ ref('reconciliation_exceptions') }} as e
    on e.exception_type = 'amount_mismatch' and e.bank_transaction_id = m.bank_transaction_id
where abs(m.amount_difference) > {{ var('match_amount_tolerance') }}
    and e.exception_id is null
