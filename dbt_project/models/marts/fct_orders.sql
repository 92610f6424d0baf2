-- One row per e-commerce order, with its refunds, in the shop currency and the functional currency.
with orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

refunds as (
    select order_id, count(*) as refund_count, sum(amount) as refunded
    from {{ ref('stg_shopify__refunds') }}
    group by order_id
),

rates as (
    select * from {{ ref('fx_rates_daily') }}
),

final as (
    select
        orders.order_id,
        'shopify' as source_system,
        orders.order_id as source_record_id,
        orders.order_name,
        orders.order_number,
        orders.customer_id,
        orders.email,
        orders.created_at,
        cast(orders.created_at as date) as order_date,
        orders.currency,
        orders.presentment_currency,
        orders.subtotal_price,
        orders.total_discounts,
        orders.total_tax,
        orders.shipping,
        orders.total_price,
        coalesce(refunds.refunded, 0) as amount_refunded,
        orders.total_price - coalesce(refunds.refunded, 0) as net_sales,
        coalesce(refunds.refund_count, 0) as refund_count,
        cast(orders.total_price * coalesce(rates.rate_to_functional, case when orders.currency = '{{ var("functional_currency") }}' then 1 end) as decimal(18, 2)) as total_price_functional,
        orders.financial_status,
        orders.is_cancelled,
        orders.updated_at
    from orders
    left join refunds on refunds.order_id = orders.order_id
    left join rates on rates.rate_date = cast(orders.created_at as date) and rates.currency = orders.currency
)

select * from final
