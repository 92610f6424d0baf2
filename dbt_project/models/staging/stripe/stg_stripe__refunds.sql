with source as (
    select * from {{ source('stripe', 'refunds') }}
),

renamed as (
    select
        id as refund_id,
        charge as charge_id,
        balance_transaction as balance_transaction_id,
        {{ epoch_to_timestamp('created') }} as created_at,
        upper(currency) as currency,
        {{ minor_to_major('amount', 'currency') }} as amount,
        reason,
        status
    from source
)

select * from renamed
