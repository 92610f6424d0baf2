-- Every HubSpot deal (open, won, lost) with its primary company, amounts in its own and the
-- functional currency, and — for won deals — the QuickBooks invoice that bills it.
-- amount_functional: the deal currency's rate in fx_rates_daily on the close date (the rates the
-- company realised on its own conversions); null when that day or currency has no rate (e.g. an open
-- deal's expected close in the future). QuickBooks invoices carry their own ExchangeRate; using it for
-- invoiced deals is a possible refinement. Grain: deal.
with deals as (
    select * from {{ ref('stg_hubspot__deals') }}
),

deal_companies as (
    select * from {{ ref('stg_hubspot__deal_companies') }}
    where is_primary
),

companies as (
    select * from {{ ref('stg_hubspot__companies') }}
),

invoiced as (
    select * from {{ ref('int_deals_invoiced') }}
),

rates as (
    select * from {{ ref('fx_rates_daily') }}
),

final as (
    select
        deals.deal_id,
        deals.deal_name,
        deal_companies.company_id,
        companies.company_name,
        deals.stage,
        deals.pipeline,
        deals.is_closed,
        deals.is_won,
        deals.amount,
        deals.currency,
        cast(case
            when deals.currency = '{{ var("functional_currency") }}' then deals.amount
            else deals.amount * rates.rate_to_functional
        end as decimal(18, 2)) as amount_functional,
        deals.probability,
        deals.created_at,
        deals.closed_at,
        deals.updated_at,
        invoiced.invoice_id,
        invoiced.invoice_number,
        invoiced.invoice_date,
        invoiced.invoice_amount,
        invoiced.rule as invoice_match_rule,
        invoiced.confidence as invoice_match_confidence,
        invoiced.days_to_invoice,
        'hubspot' as source_system,
        deals.deal_id as source_record_id
    from deals
    left join deal_companies on deal_companies.deal_id = deals.deal_id
    left join companies on companies.company_id = deal_companies.company_id
    left join invoiced on invoiced.deal_id = deals.deal_id
    left join rates
        on rates.rate_date = cast(deals.closed_at as date) and rates.currency = deals.currency
)

select * from final
