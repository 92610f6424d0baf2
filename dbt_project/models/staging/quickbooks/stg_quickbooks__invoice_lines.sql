with lines as (
    select * from {{ source('quickbooks', 'invoice__line') }}
),

invoices as (
    select id as invoice_id, _dlt_id from {{ source('quickbooks', 'invoice') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        invoices.invoice_id,
        lines.id as line_id,
        lines.detail_type,
        lines.description,
        cast(lines.amount as decimal(18, 2)) as amount,
        lines.sales_item_line_detail__item_ref__value as item_id,
        lines.sales_item_line_detail__item_ref__name as item_name
    from lines
    inner join invoices on lines._dlt_parent_id = invoices._dlt_id
    where lines.detail_type = 'SalesItemLineDetail'
)

select * from renamed
