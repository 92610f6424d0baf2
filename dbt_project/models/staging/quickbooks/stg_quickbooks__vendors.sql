with source as (
    select * from {{ source('quickbooks', 'vendor') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        id as vendor_id,
        display_name as vendor_name,
        company_name,
        print_on_check_name,
        lower(primary_email_addr__address) as email,
        web_addr__uri as website,
        upper(currency_ref__value) as currency,
        cast(active as boolean) as is_active,
        cast(balance as decimal(18, 2)) as balance,
        cast(meta_data__create_time as {{ dbt.type_timestamp() }}) as created_at
    from source
)

select * from renamed
