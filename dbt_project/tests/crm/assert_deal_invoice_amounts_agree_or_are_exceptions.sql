-- Every matched deal and invoice agree on the amount within the tolerance, or the difference is
-- reported as an invoice_amount_differs_from_deal exception.
with matched as (
    select * from {{ ref('int_deals_invoiced') }}
),

exceptions as (
    select * from {{ ref('int_crm_exceptions') }}
    where exception_type = 'invoice_amount_differs_from_deal'
)

select matched.*
from matched
left join exceptions on exceptions.record_ids = matched.deal_id || ',' || matched.invoice_number
where abs(matched.amount_difference) > {{ var('match_amount_tolerance', 0.01) }}
    and exceptions.record_ids is null
