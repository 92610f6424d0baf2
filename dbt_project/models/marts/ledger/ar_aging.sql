-- Open receivables at the ledger's latest day, by customer and bucket of days past due.
with invoices as (
    select * from {{ ref('fct_invoices') }} where amount_open <> 0 and not is_voided
),

as_of as (
    select max(posted_date) as as_of_date from {{ ref('fct_gl_entries') }}
),

final as (
    select
        as_of.as_of_date,
        invoices.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        invoices.customer_name,
        invoices.issue_date,
        invoices.due_date,
        invoices.currency,
        invoices.amount_open,
        invoices.amount_open_functional,
        {{ dbt.datediff('invoices.due_date', 'as_of.as_of_date', 'day') }} as days_past_due,
        {{ aging_bucket('invoices.due_date', 'as_of.as_of_date') }} as aging_bucket
    from invoices
    cross join as_of
)

select * from final
