-- HubSpot line items, one row per (not archived) line item: a product on a deal, with its quantity,
-- unit price and amount (properties are strings in the API). `amount` is HubSpot's line total
-- (quantity × price less any discount), decimal(18,2) in the line's currency; the unit price keeps
-- four decimals (HubSpot allows fractional unit prices).
with source as (
    {{ optional_raw('raw_hubspot', 'line_items', {
        'id': dbt.type_string(),
        'created_at': 'timestamp with time zone',
        'updated_at': 'timestamp with time zone',
        'archived': 'boolean',
        'properties__name': dbt.type_string(),
        'properties__quantity': dbt.type_string(),
        'properties__price': dbt.type_string(),
        'properties__amount': dbt.type_string(),
        'properties__hs_product_id': dbt.type_string(),
        'properties__hs_sku': dbt.type_string(),
        'properties__hs_line_item_currency_code': dbt.type_string(),
        'properties__createdate': 'timestamp with time zone',
        'properties__hs_lastmodifieddate': 'timestamp with time zone',
    }) }}
),

live as (
    select * from source
    where coalesce(archived, false) = false
),

renamed as (
    select
        {{ as_text('id') }} as line_item_id,
        properties__name as line_item_name,
        nullif(trim(properties__hs_product_id), '') as product_id,
        nullif(trim(properties__hs_sku), '') as sku,
        cast(nullif(trim(properties__quantity), '') as decimal(18, 4)) as quantity,
        cast(nullif(trim(properties__price), '') as decimal(18, 4)) as unit_price,
        cast(nullif(trim(properties__amount), '') as decimal(18, 2)) as amount,
        upper(coalesce(nullif(trim(properties__hs_line_item_currency_code), ''), '{{ var("functional_currency") }}')) as currency,
        (coalesce(properties__createdate, created_at) at time zone 'UTC') as created_at,
        (coalesce(properties__hs_lastmodifieddate, updated_at) at time zone 'UTC') as updated_at
    from live
)

select * from renamed
