-- Cutting orders and refunds into shop days loses or doubles none: the days' totals are the
-- orders' and refunds' own (shop-currency amounts where the shop currency is the functional one).
with days as (
    select
        sum(order_count) as orders,
        sum(refund_count) as refunds,
        sum(orders_gross) as gross,
        sum(orders_refunds) as refunded
    from {{ ref('int_orders_booked') }}
    where order_date is not null
),

orders as (
    select count(*) as orders, sum(total_price) as gross
    from {{ ref('stg_shopify__orders') }}
    where currency = '{{ var("functional_currency") }}'
),

all_orders as (
    select count(*) as orders from {{ ref('stg_shopify__orders') }}
),

refunds as (
    select count(*) as refunds, sum(amount) as refunded
    from {{ ref('stg_shopify__refunds') }}
    where currency = '{{ var("functional_currency") }}'
),

all_refunds as (
    select count(*) as refunds from {{ ref('stg_shopify__refunds') }}
)

select days.*
from days
cross join orders
cross join all_orders
cross join refunds
cross join all_refunds
where coalesce(days.orders, 0) <> all_orders.orders
    or coalesce(days.refunds, 0) <> all_refunds.refunds
    -- amounts only when every order is in the functional currency (no conversion to compare)
    or (orders.orders = all_orders.orders and coalesce(days.gross, 0) <> coalesce(orders.gross, 0))
    or (refunds.refunds = all_refunds.refunds and coalesce(days.refunded, 0) <> coalesce(refunds.refunded, 0))
