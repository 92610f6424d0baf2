-- A match pairs a won deal with a standing (not voided) invoice of the same currency, dated on or
-- after the close and within the window (a reference match may fall outside the window).
with matched as (
    select * from {{ ref('int_deals_invoiced') }}
),

deals as (
    select * from {{ ref('stg_hubspot__deals') }}
),

invoices as (
    select * from {{ ref('stg_quickbooks__invoices') }}
)

select matched.*
from matched
inner join deals on deals.deal_id = matched.deal_id
inner join invoices on invoices.invoice_id = matched.invoice_id
where not deals.is_won
    or invoices.is_voided
    or invoices.currency <> deals.currency
    or (matched.rule <> 'deal_reference'
        and (matched.days_to_invoice < 0
            or matched.days_to_invoice > {{ var('deal_invoice_window_days', 30) }}))
