-- Assets = liabilities + equity at every month end.
select month,
    sum(case when classification = 'Asset' then balance else 0 end) as assets,
    sum(case when classification in ('Liability', 'Equity') then balance else 0 end) as liabilities_and_equity
from {{ ref('balance_sheet') }}
group by month
having abs(sum(case when classification = 'Asset' then balance else -balance end)) > 0.001
