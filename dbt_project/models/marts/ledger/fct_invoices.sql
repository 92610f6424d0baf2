-- One row per customer invoice (latest version), with what has been paid and what is open.
with invoices as (
    select * from {{ ref('stg_quickbooks__invoices') }}
),

applied as (
    select applications.invoice_id, sum(applications.amount) as paid, max(payments.transaction_date) as last_paid_date
    from {{ ref('stg_quickbooks__payment_applications') }} as applications
    inner join {{ ref('stg_quickbooks__payments') }} as payments on payments.payment_id = applications.payment_id
    group by applications.invoice_id
),

final as (
    select
        invoices.invoice_id,
        'quickbooks' as source_system,
        invoices.invoice_id as source_record_id,
        invoices.doc_number as invoice_number,
        invoices.customer_id,
        invoices.customer_name,
        invoices.transaction_date as issue_date,
        invoices.due_date,
        invoices.currency,
        invoices.exchange_rate,
        invoices.total_amount,
        {{ round_money("invoices.total_amount * invoices.exchange_rate") }} as total_amount_functional,
        coalesce(applied.paid, 0) as amount_paid,
        invoices.balance as amount_open,
        {{ round_money("invoices.balance * invoices.exchange_rate") }} as amount_open_functional,
        applied.last_paid_date,
        invoices.is_voided,
        case
            when invoices.is_voided then 'voided'
            when invoices.balance = 0 then 'paid'
            when coalesce(applied.paid, 0) > 0 then 'partially_paid'
            else 'open'
        end as status,
        invoices.is_integration,
        not invoices.is_integration as is_manual,
        invoices.source_link,
        invoices.created_at,
        invoices.updated_at,
        invoices.sync_token
    from invoices
    left join applied on applied.invoice_id = invoices.invoice_id
)

select * from final
