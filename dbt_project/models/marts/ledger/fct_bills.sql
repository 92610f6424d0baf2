-- One row per vendor bill (latest version), with what has been paid and what is open.
with bills as (
    select * from {{ ref('stg_quickbooks__bills') }}
),

applied as (
    select applications.bill_id, sum(applications.amount) as paid, max(payments.transaction_date) as last_paid_date
    from {{ ref('stg_quickbooks__bill_payment_applications') }} as applications
    inner join {{ ref('stg_quickbooks__bill_payments') }} as payments
        on payments.bill_payment_id = applications.bill_payment_id
    group by applications.bill_id
),

first_lines as (
    select bill_id, min(account_id) as expense_account_id, min(description) as memo
    from {{ ref('stg_quickbooks__bill_lines') }}
    group by bill_id
),

final as (
    select
        bills.bill_id,
        'quickbooks' as source_system,
        bills.bill_id as source_record_id,
        bills.vendor_id,
        bills.vendor_name,
        bills.transaction_date as bill_date,
        bills.due_date,
        bills.currency,
        bills.exchange_rate,
        bills.total_amount,
        {{ round_money("bills.total_amount * bills.exchange_rate") }} as total_amount_functional,
        coalesce(applied.paid, 0) as amount_paid,
        bills.balance as amount_open,
        {{ round_money("bills.balance * bills.exchange_rate") }} as amount_open_functional,
        applied.last_paid_date,
        first_lines.expense_account_id,
        accounts.account_name as expense_account_name,
        coalesce(first_lines.memo, bills.private_note) as memo,
        case when bills.balance = 0 then 'paid' when coalesce(applied.paid, 0) > 0 then 'partially_paid' else 'open' end
            as status,
        not bills.is_integration as is_manual,
        bills.source_link,
        bills.created_at,
        bills.updated_at
    from bills
    left join applied on applied.bill_id = bills.bill_id
    left join first_lines on first_lines.bill_id = bills.bill_id
    left join {{ ref('stg_quickbooks__accounts') }} as accounts on accounts.account_id = first_lines.expense_account_id
)

select * from final
