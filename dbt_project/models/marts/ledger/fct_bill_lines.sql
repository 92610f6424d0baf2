-- One row per expense line of a vendor bill: what was bought, from whom, booked to which expense
-- account (the company's own categorisation, which the expense categoriser learns from).
with lines as (
    select * from {{ ref('stg_quickbooks__bill_lines') }}
),

bills as (
    select * from {{ ref('stg_quickbooks__bills') }}
),

accounts as (
    select * from {{ ref('dim_accounts') }}
),

final as (
    select
        'Bill:' || lines.bill_id || ':' || lines.line_id as bill_line_id,
        lines.bill_id,
        bills.vendor_id,
        bills.vendor_name,
        bills.transaction_date as bill_date,
        coalesce(lines.description, bills.private_note) as line_description,
        lines.amount as line_amount,
        bills.currency,
        {{ round_money("lines.amount * bills.exchange_rate") }} as line_amount_functional,
        lines.account_id as expense_account_id,
        accounts.account_name as expense_account_name,
        accounts.classification,
        not bills.is_integration as is_manual
    from lines
    inner join bills on bills.bill_id = lines.bill_id
    left join accounts on accounts.account_id = lines.account_id
)

select * from final
