-- One row per payment of vendor bills, with the vendor and the bank account it left from.
with payments as (
    select * from {{ ref('stg_quickbooks__bill_payments') }}
),

applied as (
    select
        applications.bill_payment_id,
        min(applications.bill_id) as first_bill_id,
        count(*) as bills_paid,
        max(bills.transaction_date) as last_bill_date
    from {{ ref('stg_quickbooks__bill_payment_applications') }} as applications
    left join {{ ref('stg_quickbooks__bills') }} as bills on bills.bill_id = applications.bill_id
    group by applications.bill_payment_id
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
        applied.last_bill_date,
        payments.pay_type,
        not payments.is_integration as is_manual,
        payments.source_link,
        payments.created_at
    from payments
    left join applied on applied.bill_payment_id = payments.bill_payment_id
)

select * from final
