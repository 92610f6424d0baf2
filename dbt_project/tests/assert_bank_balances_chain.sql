-- Each day's balance = the previous day's balance + the day's net flow.
with b as (
    select
        account_id,
        balance_date,
        balance,
        net_flow,
        lag(balance) over (partition by account_id order by balance_date) as previous_balance
    from {{ ref('bank_balances_daily') }}
)
select *
from b
where previous_balance is not null
    and abs(previous_balance + net_flow - balance) > 0.005
