-- What each customer payment pays: one row per (payment, linked invoice), in the payment's currency.
with payments as (
    select id as payment_id, _dlt_id from {{ source('quickbooks', 'payment') }}
    where {{ qbo_live() }}
),

lines as (
    select * from {{ source('quickbooks', 'payment__line') }}
),

links as (
    select * from {{ source('quickbooks', 'payment__line__linked_txn') }}
),

final as (
    select
        payments.payment_id,
        links.txn_id as invoice_id,
        cast(lines.amount as decimal(18, 2)) as amount
    from links
    inner join lines on links._dlt_parent_id = lines._dlt_id
    inner join payments on lines._dlt_parent_id = payments._dlt_id
    where links.txn_type = 'Invoice'
)

select * from final
