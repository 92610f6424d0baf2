with source as (
    select * from {{ source('stripe', 'payouts') }}
),

renamed as (
    select
        id as payout_id,
        balance_transaction as balance_transaction_id,
        {{ epoch_to_timestamp('created') }} as created_at,
        cast({{ epoch_to_timestamp('arrival_date') }} as date) as arrival_date,
        upper(currency) as currency,
        {{ minor_to_major('amount', 'currency') }} as amount,
        status,
        method,
        type,
        cast(automatic as boolean) as is_automatic,
        statement_descriptor,
        description
    from source
)

select * from renamed
