-- Debits = credits for every journal entry.
select entry_id, sum(debit) as debits, sum(credit) as credits
from {{ ref('fct_gl_entries') }}
group by entry_id
having abs(sum(debit) - sum(credit)) > 0.001
