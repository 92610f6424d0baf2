with source as (
    select * from {{ source('stripe', 'customers') }}
),

renamed as (
    select
        id as customer_id,
        name as customer_name,
        lower(email) as email,
        {{ epoch_to_timestamp('created') }} as created_at,
        upper(currency) as currency,
        description
    from source
)

select * from renamed
