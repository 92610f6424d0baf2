with source as (
    select * from {{ source('quickbooks', 'account') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        id as account_id,
        name as account_name,
        fully_qualified_name,
        classification,
        account_type,
        account_sub_type,
        upper(coalesce(currency_ref__value, '{{ var("functional_currency") }}')) as currency,
        cast(active as boolean) as is_active,
        cast(current_balance as decimal(18, 2)) as current_balance
    from source
)

select * from renamed
