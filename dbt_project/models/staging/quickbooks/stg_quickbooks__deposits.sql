with source as (
    select * from {{ source('quickbooks', 'deposit') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        id as deposit_id,
        {{ qbo_header_columns(source('quickbooks', 'deposit')) }},
        cast(total_amt as decimal(18, 2)) as total_amount,
        deposit_to_account_ref__value as deposit_account_id
    from source
)

select * from renamed
