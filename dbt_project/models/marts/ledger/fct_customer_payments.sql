-- One row per customer payment received in the ledger (QuickBooks Payment), with the customer, the
-- account it was deposited to and the invoices it pays: the receivables side of fct_bill_payments.
with payments as (
    select * from {{ ref('stg_quickbooks__payments') }}
),

applied as (
    select
        applications.payment_id,
        min(applications.invoice_id) as first_invoice_id,
        count(*) as invoices_paid,
        max(invoices.transaction_date) as last_invoice_date
    from {{ ref('stg_quickbooks__payment_applications') }} as applications
    left join {{ ref('stg_quickbooks__invoices') }} as invoices
        on invoices.invoice_id = applications.invoice_id
    group by applications.payment_id
),

final as (
    select
        payments.payment_id,
        payments.customer_id,
        payments.transaction_date as payment_date,
        payments.total_amount as amount,
        payments.unapplied_amount,
        payments.currency,
        {{ round_money("payments.total_amount * payments.exchange_rate") }} as amount_functional,
        payments.deposit_account_id,
        applied.first_invoice_id as invoice_id,
        coalesce(applied.invoices_paid, 0) as invoices_paid,
        applied.last_invoice_date,
        payments.payment_ref_num,
        not payments.is_integration as is_manual,
        payments.source_link,
        payments.created_at
    from payments
    left join applied on applied.payment_id = payments.payment_id
)

select * from final
