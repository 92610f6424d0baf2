with lines as (
    select * from {{ source('quickbooks', 'deposit__line') }}
),

deposits as (
    select id as deposit_id, _dlt_id from {{ source('quickbooks', 'deposit') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        deposits.deposit_id,
        lines.id as line_id,
        lines.description,
        cast(lines.amount as decimal(18, 2)) as amount,
        lines.deposit_line_detail__account_ref__value as account_id
    from lines
    inner join deposits on lines._dlt_parent_id = deposits._dlt_id
)

select * from renamed
