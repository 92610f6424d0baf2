with lines as (
    select * from {{ source('quickbooks', 'bill__line') }}
),

bills as (
    select id as bill_id, _dlt_id from {{ source('quickbooks', 'bill') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        bills.bill_id,
        lines.id as line_id,
        lines.detail_type,
        lines.description,
        cast(lines.amount as decimal(18, 2)) as amount,
        lines.account_based_expense_line_detail__account_ref__value as account_id,
        lines.account_based_expense_line_detail__account_ref__name as account_name
    from lines
    inner join bills on lines._dlt_parent_id = bills._dlt_id
)

select * from renamed
