-- The trial balance sums to 0 on every day.
select balance_date, sum(balance) as total
from {{ ref('trial_balance') }}
group by balance_date
having abs(sum(balance)) > 0.001
