with source as (
    select * from {{ source('quickbooks', 'payment') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        id as payment_id,
        customer_ref__value as customer_id,
        {{ qbo_header_columns(source('quickbooks', 'payment')) }},
        cast(total_amt as decimal(18, 2)) as total_amount,
        cast(coalesce(unapplied_amt, 0) as decimal(18, 2)) as unapplied_amount,
        deposit_to_account_ref__value as deposit_account_id,
        payment_ref_num
    from source
)

select * from renamed
