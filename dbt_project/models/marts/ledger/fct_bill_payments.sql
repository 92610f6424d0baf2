-- One row per payment of vendor bills, with the vendor and the bank account it left from.
with payments as (
    select * from {{ ref('stg_quickbooks__bill_payments') }}
),

applied as (
    select bill_payment_id, min(bill_id) as first_bill_id, count(*) as bills_paid
    from {{ ref('stg_quickbooks__bill_payment_applications') }}
    group by bill_payment_id
),

final as (
    select
        payments.bill_payment_id,
        payments.vendor_id,
        payments.vendor_name,
        payments.transaction_date as payment_date,
        payments.total_amount as amount,
        payments.currency,
        {{ round_money("payments.total_amount * payments.exchange_rate") }} as amount_functional,
        payments.bank_account_id,
        applied.first_bill_id as bill_id,
        coalesce(applied.bills_paid, 0) as bills_paid,
        payments.pay_type,
        not payments.is_integration as is_manual,
        payments.source_link,
        payments.created_at
    from payments
    left join applied on applied.bill_payment_id = payments.bill_payment_id
)

select * from final
