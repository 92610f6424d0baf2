-- Profit and loss per month and account, on the accrual basis (as posted) and on the cash basis
-- (revenue and expense recognised when the linked cash moves: an invoice's revenue in the month of
-- its payments, a bill's expense in the month of its bill payments; entries that never touch
-- receivables or payables are the same on both bases). Revenue = credit − debit; expense = debit − credit.
with lines as (
    select * from {{ ref('fct_gl_entries') }} where classification in ('Revenue', 'Expense')
),

invoice_payment_months as (
    select
        'Invoice:' || applications.invoice_id as entry_id,
        cast({{ dbt.date_trunc('month', 'payments.transaction_date') }} as date) as cash_month,
        sum(applications.amount) / max(invoices.total_amount) as share
    from {{ ref('stg_quickbooks__payment_applications') }} as applications
    inner join {{ ref('stg_quickbooks__payments') }} as payments on payments.payment_id = applications.payment_id
    inner join {{ ref('stg_quickbooks__invoices') }} as invoices on invoices.invoice_id = applications.invoice_id
    where invoices.total_amount <> 0
    group by 1, 2
),

bill_payment_months as (
    select
        'Bill:' || applications.bill_id as entry_id,
        cast({{ dbt.date_trunc('month', 'payments.transaction_date') }} as date) as cash_month,
        sum(applications.amount) / max(bills.total_amount) as share
    from {{ ref('stg_quickbooks__bill_payment_applications') }} as applications
    inner join {{ ref('stg_quickbooks__bill_payments') }} as payments
        on payments.bill_payment_id = applications.bill_payment_id
    inner join {{ ref('stg_quickbooks__bills') }} as bills on bills.bill_id = applications.bill_id
    where bills.total_amount <> 0
    group by 1, 2
),

cash_timing as (
    select * from invoice_payment_months
    union all
    select * from bill_payment_months
),

signed as (
    select
        lines.*,
        case when lines.classification = 'Revenue' then lines.credit - lines.debit else lines.debit - lines.credit end
            as amount
    from lines
),

accrual as (
    select
        cast({{ dbt.date_trunc('month', 'posted_date') }} as date) as month,
        account_id, max(account_name) as account_name, max(classification) as classification,
        sum(amount) as amount
    from signed
    group by 1, 2
),

cash as (
    select
        coalesce(cash_timing.cash_month, cast({{ dbt.date_trunc('month', 'signed.posted_date') }} as date)) as month,
        signed.account_id, max(signed.account_name) as account_name, max(signed.classification) as classification,
        sum(signed.amount * coalesce(cash_timing.share, case when signed.source_entity in ('Invoice', 'Bill') then 0 else 1 end))
            as amount
    from signed
    left join cash_timing on cash_timing.entry_id = signed.entry_id
    group by 1, 2
),

final as (
    select 'accrual' as basis, month, account_id, account_name, classification,
        cast(amount as decimal(18, 2)) as amount
    from accrual
    union all
    select 'cash', month, account_id, account_name, classification, cast(amount as decimal(18, 2))
    from cash
)

select * from final
