-- The closing rate is fx_rates_daily's rate of the latest day on or before the month end (the month
-- end itself whenever it has a row), and every revalued item has one.
with revaluation as (
    select * from {{ ref('fx_revaluation') }}
),

rates as (
    select * from {{ ref('fx_rates_daily') }}
),

latest as (
    select revaluation.revaluation_id, max(rates.rate_date) as latest_rate_date
    from revaluation
    inner join rates on rates.currency = revaluation.currency and rates.rate_date <= revaluation.month_end
    group by revaluation.revaluation_id
)

select revaluation.*
from revaluation
left join latest on latest.revaluation_id = revaluation.revaluation_id
left join rates on rates.currency = revaluation.currency and rates.rate_date = revaluation.rate_date
where latest.latest_rate_date is null
    or revaluation.rate_date <> latest.latest_rate_date
    or rates.rate_to_functional is null
    or abs(rates.rate_to_functional - revaluation.closing_rate) > 1e-12
