-- time_to_invoice_days agrees with the deals it is computed from: per invoice month, the numerator
-- is the sum of fct_deals.days_to_invoice and the denominator the number of invoiced deals.
with kpi as (
    select * from {{ ref('int_kpis_crm') }}
    where kpi = 'time_to_invoice_days'
),

deals as (
    select
        cast({{ dbt.date_trunc('month', 'invoice_date') }} as date) as month,
        sum(days_to_invoice) as total_days,
        count(*) as deals
    from {{ ref('fct_deals') }}
    where invoice_id is not null
    group by 1
)

select coalesce(kpi.month, deals.month) as month, kpi.numerator, deals.total_days, kpi.denominator, deals.deals
from kpi
full outer join deals on deals.month = kpi.month
where kpi.month is null
    or deals.month is null
    or abs(kpi.numerator - deals.total_days) > 0.001
    or abs(kpi.denominator - deals.deals) > 0.001
