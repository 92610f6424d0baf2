-- Cash flow per month, two ways:
--   direct (from the bank): money in and out of every bank account, by what the line is, in the
--     functional currency at fx_rates_daily;
--   indirect (from the ledger): net income, plus the change of every non-cash balance sheet
--     account (receivables, payables, clearing accounts, accruals, equity), which adds up to the
--     change of the ledger's bank accounts.
with bank as (
    select * from {{ ref('fct_bank_transactions') }}
),

rates as (
    select * from {{ ref('fx_rates_daily') }}
),

direct as (
    select
        'direct' as method,
        cast({{ dbt.date_trunc('month', 'bank.booking_date') }} as date) as month,
        case when bank.amount >= 0 then 'receipts' else 'payments' end as line_item,
        cast(sum(bank.amount * coalesce(rates.rate_to_functional,
            case when bank.currency = '{{ var("functional_currency") }}' then 1 end)) as decimal(18, 2)) as amount
    from bank
    left join rates on rates.rate_date = bank.booking_date and rates.currency = bank.currency
    group by 1, 2, 3
),

ledger as (
    select
        cast({{ dbt.date_trunc('month', 'gl.posted_date') }} as date) as month,
        gl.classification,
        accounts.account_type,
        gl.account_name,
        sum(gl.debit - gl.credit) as movement
    from {{ ref('fct_gl_entries') }} as gl
    inner join {{ ref('dim_accounts') }} as accounts on accounts.account_id = gl.account_id
    group by 1, 2, 3, 4
),

indirect as (
    select 'indirect' as method, month, 'net_income' as line_item,
        cast(-sum(movement) as decimal(18, 2)) as amount
    from ledger
    where classification in ('Revenue', 'Expense')
    group by month
    union all
    select 'indirect', month, 'change in ' || account_name, cast(-sum(movement) as decimal(18, 2))
    from ledger
    where classification in ('Asset', 'Liability', 'Equity') and account_type <> 'Bank'
    group by month, account_name
    union all
    select 'indirect', month, 'net change in cash (ledger bank accounts)', cast(sum(movement) as decimal(18, 2))
    from ledger
    where account_type = 'Bank'
    group by month
),

final as (
    select * from direct
    union all
    select * from indirect
)

select * from final
