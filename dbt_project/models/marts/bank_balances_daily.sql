-- End-of-day balance of every bank account for every day from the first to the last bank line.
-- Anchored on the one balance the bank states (int_bank_accounts_anchored):
-- balance(d) = anchor balance + lines booked after the anchor day up to d − lines after d up to it.
with lines as (
    select * from {{ ref('fct_bank_transactions') }}
),

accounts as (
    select * from {{ ref('int_bank_accounts_anchored') }}
),

bounds as (
    select
        min(booking_date) as first_date,
        greatest(max(booking_date), (select max(anchor_date) from accounts)) as last_date
    from lines
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
    select
        accounts.account_id,
        accounts.currency,
        accounts.anchor_balance,
        accounts.anchor_date,
        days.spine_date as balance_date
    from accounts
    cross join days
),

flows as (
    select
        grid.account_id,
        grid.currency,
        grid.balance_date,
        grid.anchor_balance,
        grid.anchor_date,
        coalesce(daily_flows.net_flow, 0) as net_flow,
        coalesce(daily_flows.line_count, 0) as line_count
    from grid
    left join daily_flows
        on grid.account_id = daily_flows.account_id and grid.balance_date = daily_flows.booking_date
),

cumulated as (
    select
        flows.*,
        sum(net_flow) over (partition by account_id order by balance_date rows unbounded preceding)
            as cumulative_flow
    from flows
),

final as (
    select
        account_id,
        balance_date,
        currency,
        net_flow,
        line_count,
        cast(
            anchor_balance
            + cumulative_flow
            - max(case when balance_date = anchor_date then cumulative_flow end) over (partition by account_id)
            as decimal(18, 2)
        ) as balance
    from cumulated
)

select * from final
