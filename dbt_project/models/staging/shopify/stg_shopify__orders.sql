-- Shopify orders in the shop currency; money cast from Shopify's strings to decimal.
with source as (
    select * from {{ source('shopify', 'orders') }}
),

shipping as (
    select _dlt_parent_id, sum(cast(price as decimal(18, 2))) as shipping
    from {{ source('shopify', 'orders__shipping_lines') }}
    group by _dlt_parent_id
),

renamed as (
    select
        {{ as_text('source.id') }} as order_id,
        source.name as order_name,
        source.order_number,
        {{ as_text('source.customer__id') }} as customer_id,
        lower(coalesce(source.email, source.customer__email)) as email,
        (source.created_at at time zone 'UTC') as created_at,
        (source.processed_at at time zone 'UTC') as processed_at,
        (source.updated_at at time zone 'UTC') as updated_at,
        source.cancelled_at is not null as is_cancelled,
        upper(source.currency) as currency,
        upper(source.presentment_currency) as presentment_currency,
        cast(source.subtotal_price as decimal(18, 2)) as subtotal_price,
        cast(source.total_tax as decimal(18, 2)) as total_tax,
        cast(source.total_discounts as decimal(18, 2)) as total_discounts,
        coalesce(shipping.shipping, 0) as shipping,
        cast(source.total_price as decimal(18, 2)) as total_price,
        cast(source.total_price_set__presentment_money__amount as decimal(18, 2)) as presentment_total_price,
        -- shop-currency units per presentment unit, as Shopify converted this order
        cast(source.total_price_set__shop_money__amount as {{ type_double() }})
            / nullif(cast(source.total_price_set__presentment_money__amount as {{ type_double() }}), 0)
            as presentment_rate,
        cast(source.current_total_price as decimal(18, 2)) as current_total_price,
        source.financial_status,
        source.gateway,
        source.source_name
    from source
    left join shipping on shipping._dlt_parent_id = source._dlt_id
)

select * from renamed
