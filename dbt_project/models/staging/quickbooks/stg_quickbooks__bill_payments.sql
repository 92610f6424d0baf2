with source as (
    select * from {{ source('quickbooks', 'bill_payment') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        id as bill_payment_id,
        vendor_ref__value as vendor_id,
        vendor_ref__name as vendor_name,
        {{ qbo_header_columns(source('quickbooks', 'bill_payment')) }},
        pay_type,
        cast(total_amt as decimal(18, 2)) as total_amount,
        check_payment__bank_account_ref__value as bank_account_id
    from source
)

select * from renamed
