-- Every deal with line items: its line items sum to the deal's amount, to the cent. The sandbox
-- builds every deal from its line items, so there a difference is a bug. In a real portal a deal's
-- amount can be typed over the line items' total, so this warns (the data-quality page lists the
-- deals) rather than stopping the run; the sandbox's tests require no warnings. The var
-- `hubspot_line_items_sum_severity` = 'error' makes it strict. Deals without line items are not checked.
{{ config(severity = var('hubspot_line_items_sum_severity', 'warn')) }}
with deals as (
    select * from {{ ref('stg_hubspot__deals') }}
),

links as (
    select * from {{ ref('stg_hubspot__deal_line_items') }}
),

line_items as (
    select * from {{ ref('stg_hubspot__line_items') }}
),

line_totals as (
    select
        links.deal_id,
        count(*) as line_items,
        sum(line_items.amount) as line_items_amount
    from links
    inner join line_items on line_items.line_item_id = links.line_item_id
    group by links.deal_id
)

select
    deals.deal_id,
    deals.amount as deal_amount,
    line_totals.line_items,
    line_totals.line_items_amount,
    coalesce(deals.amount, 0) - line_totals.line_items_amount as difference
from line_totals
inner join deals on deals.deal_id = line_totals.deal_id
where abs(coalesce(deals.amount, 0) - line_totals.line_items_amount) >= 0.005
