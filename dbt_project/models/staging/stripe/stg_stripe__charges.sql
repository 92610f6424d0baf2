with source as (
    select * from {{ source('stripe', 'charges') }}
),

renamed as (
    select
        id as charge_id,
        customer as customer_id,
        balance_transaction as balance_transaction_id,
        payment_intent as payment_intent_id,
        {{ epoch_to_timestamp('created') }} as created_at,
        upper(currency) as currency,
        {{ minor_to_major('amount', 'currency') }} as amount,
        {{ minor_to_major('amount_refunded', 'currency') }} as amount_refunded,
        status,
        cast(paid as boolean) as is_paid,
        cast(refunded as boolean) as is_refunded,
        cast(disputed as boolean) as is_disputed,
        description,
        statement_descriptor,
        billing_details__name as billing_name,
        billing_details__email as billing_email
    from source
)

select * from renamed
