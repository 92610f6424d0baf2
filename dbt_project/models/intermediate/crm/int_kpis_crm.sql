-- CRM KPIs per month, in the row shape of the other int_kpis_* models (month, kpi, value, numerator,
-- denominator):
--   time_to_invoice_days  mean days from a won deal's close (HubSpot closedate, UTC calendar day) to
--                         its invoice's TxnDate, over the deals matched to a standing invoice, by the
--                         month of the invoice's TxnDate; numerator = Σ days, denominator = deals.
with matched as (
    select * from {{ ref('int_deals_invoiced') }}
),

monthly as (
    select
        cast({{ dbt.date_trunc('month', 'invoice_date') }} as date) as month,
        sum(days_to_invoice) as total_days,
        count(*) as deals
    from matched
    group by 1
),

final as (
    select
        month,
        'time_to_invoice_days' as kpi,
        cast(total_days as {{ type_double() }}) / deals as value,
        cast(total_days as {{ type_double() }}) as numerator,
        cast(deals as {{ type_double() }}) as denominator
    from monthly
)

select * from final
