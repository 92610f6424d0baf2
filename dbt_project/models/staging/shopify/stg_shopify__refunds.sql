-- One row per Shopify refund, with the money it returned (successful refund transactions).
-- Refund transactions are in the presentment currency (what the customer paid in); `amount` is
-- converted to the shop currency at the order's own rate, `presentment_amount` kept as sent.
with refunds as (
    select * from {{ source('shopify', 'orders__refunds') }}
),

orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

transactions as (
    select
        _dlt_parent_id,
        sum(cast(amount as decimal(18, 2))) as amount,
        max(upper(currency)) as currency
    from {{ source('shopify', 'orders__refunds__transactions') }}
    where kind = 'refund' and status = 'success'
    group by _dlt_parent_id
),

renamed as (
    select
        {{ as_text('refunds.id') }} as refund_id,
        {{ as_text('refunds.order_id') }} as order_id,
        (refunds.created_at at time zone 'UTC') as created_at,
        cast(
            case
                when transactions.currency is null or transactions.currency = orders.currency
                    then coalesce(transactions.amount, 0)
                else transactions.amount * orders.presentment_rate
            end as decimal(18, 2)
        ) as amount,
        orders.currency,
        coalesce(transactions.amount, 0) as presentment_amount,
        transactions.currency as presentment_currency
    from refunds
    left join transactions on transactions._dlt_parent_id = refunds._dlt_id
    left join orders on orders.order_id = {{ as_text('refunds.order_id') }}
)

select * from renamed
