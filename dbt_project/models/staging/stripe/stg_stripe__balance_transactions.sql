with source as (
    select * from {{ source('stripe', 'balance_transactions') }}
),

renamed as (
    select
        id as balance_transaction_id,
        source as source_id,
        type,
        reporting_category,
        {{ epoch_to_timestamp('created') }} as created_at,
        {{ epoch_to_timestamp('available_on') }} as available_on,
        upper(currency) as currency,
        {{ minor_to_major('amount', 'currency') }} as amount,
        {{ minor_to_major('fee', 'currency') }} as fee,
        {{ minor_to_major('net', 'currency') }} as net,
        cast(exchange_rate as {{ type_double() }}) as exchange_rate,
        status,
        description
    from source
)

select * from renamed
