-- What each bill payment pays: one row per (bill payment, linked bill).
with payments as (
    select id as bill_payment_id, _dlt_id from {{ source('quickbooks', 'bill_payment') }}
    where {{ qbo_live() }}
),

lines as (
    select * from {{ source('quickbooks', 'bill_payment__line') }}
),

links as (
    select * from {{ source('quickbooks', 'bill_payment__line__linked_txn') }}
),

final as (
    select
        payments.bill_payment_id,
        links.txn_id as bill_id,
        cast(lines.amount as decimal(18, 2)) as amount
    from links
    inner join lines on links._dlt_parent_id = lines._dlt_id
    inner join payments on lines._dlt_parent_id = payments._dlt_id
    where links.txn_type = 'Bill'
)

select * from final
