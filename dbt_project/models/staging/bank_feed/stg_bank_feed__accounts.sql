with source as (
    select * from {{ source('bank_feed', 'accounts') }}
),

renamed as (
    select
        account_id,
        name as account_name,
        official_name,
        mask,
        type as account_type,
        subtype as account_subtype,
        upper(coalesce(balances__iso_currency_code, balances__unofficial_currency_code)) as currency,
        cast(balances__current as decimal(18, 2)) as current_balance,
        cast(balances__available as decimal(18, 2)) as available_balance
    from source
)

select * from renamed
