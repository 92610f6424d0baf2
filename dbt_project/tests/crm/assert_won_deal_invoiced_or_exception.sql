-- Every won deal past the grace period is either matched to an invoice or reported as
-- won_deal_not_invoiced — never silently dropped, never both.
with deals as (
    select * from {{ ref('fct_deals') }}
),

not_invoiced as (
    select record_ids as deal_id from {{ ref('int_crm_exceptions') }}
    where exception_type = 'won_deal_not_invoiced'
),

as_of as (
    select max(activity_date) as as_of_date
    from (
        select max(cast(closed_at as date)) as activity_date from {{ ref('stg_hubspot__deals') }} where is_closed
        union all
        select max(transaction_date) from {{ ref('stg_quickbooks__invoices') }}
    ) as activity
)

select deals.deal_id, deals.invoice_id, not_invoiced.deal_id as flagged
from deals
cross join as_of
left join not_invoiced on not_invoiced.deal_id = deals.deal_id
where deals.is_won
    and cast(deals.closed_at as date) < {{ dbt.dateadd('day', -var('deal_invoice_grace_days', 30), 'as_of.as_of_date') }}
    and ((deals.invoice_id is null and not_invoiced.deal_id is null)
        or (deals.invoice_id is not null and not_invoiced.deal_id is not null))
