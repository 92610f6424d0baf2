with source as (
    select * from {{ source('quickbooks', 'bill') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        id as bill_id,
        vendor_ref__value as vendor_id,
        vendor_ref__name as vendor_name,
        {{ qbo_header_columns(source('quickbooks', 'bill')) }},
        cast(due_date as date) as due_date,
        cast(total_amt as decimal(18, 2)) as total_amount,
        cast(balance as decimal(18, 2)) as balance,
        ap_account_ref__value as ap_account_id
    from source
)

select * from renamed
