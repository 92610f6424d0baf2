-- End-of-day balance of every bank account for every day from its first to its last line.
-- Anchored on the balance the bank reports now: balance(d) = current − the lines booked after d.
with lines as (
    select * from {{ ref('fct_bank_transactions') }}
),

accounts as (
    select * from {{ ref('stg_bank_feed__accounts') }}
),

bounds as (
    select min(booking_date) as first_date, max(booking_date) as last_date from lines
),

days as (
    {{ date_spine_between('(select first_date from bounds)', '(select last_date from bounds)') }}
),

daily_flows as (
    select account_id, booking_date, sum(amount) as net_flow, count(*) as line_count
    from lines
    group by account_id, booking_date
),

grid as (
    select accounts.account_id, accounts.currency, accounts.current_balance, days.spine_date as balance_date
    from accounts
    cross join days
),

flows as (
    select
        grid.account_id,
        grid.currency,
        grid.balance_date,
        grid.current_balance,
        coalesce(daily_flows.net_flow, 0) as net_flow,
        coalesce(daily_flows.line_count, 0) as line_count
    from grid
    left join daily_flows
        on grid.account_id = daily_flows.account_id and grid.balance_date = daily_flows.booking_date
),

final as (
    select
        account_id,
        balance_date,
        currency,
        net_flow,
        line_count,
        cast(
            current_balance
            - coalesce(sum(net_flow) over (
                partition by account_id order by balance_date desc
                rows between unbounded preceding and 1 preceding
            ), 0)
            as decimal(18, 2)
        ) as balance
    from flows
)

select * from final
