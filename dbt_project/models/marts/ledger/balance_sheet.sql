-- Balance sheet at the end of every month: each asset, liability and equity account's balance,
-- plus the period's retained earnings (cumulative profit and loss) as an equity line, so that
-- assets = liabilities + equity. Assets: debit − credit; liabilities and equity: credit − debit.
with daily as (
    select * from {{ ref('trial_balance') }}
),

month_ends as (
    select
        cast({{ dbt.date_trunc('month', 'balance_date') }} as date) as month,
        max(balance_date) as month_end
    from daily
    group by 1
),

balances as (
    select month_ends.month, month_ends.month_end, daily.account_id, daily.account_name, daily.classification,
        daily.balance
    from daily
    inner join month_ends on month_ends.month_end = daily.balance_date
),

accounts as (
    select
        month, month_end, account_id, account_name, classification,
        case when classification = 'Asset' then balance else -balance end as balance
    from balances
    where classification in ('Asset', 'Liability', 'Equity')
),

earnings as (
    select
        month, month_end, 'net_income' as account_id, 'Retained earnings (cumulative net income)' as account_name,
        'Equity' as classification, -sum(balance) as balance
    from balances
    where classification in ('Revenue', 'Expense')
    group by month, month_end
),

final as (
    select month, month_end, account_id, account_name, classification, cast(balance as decimal(18, 2)) as balance
    from accounts
    union all
    select month, month_end, account_id, account_name, classification, cast(balance as decimal(18, 2))
    from earnings
)

select * from final
