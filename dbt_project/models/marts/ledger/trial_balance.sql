-- End-of-day balance of every account on every day from the first posting to the last: the sum of
-- all debits − credits posted up to that day. Summed over all accounts it is 0 every day.
with lines as (
    select * from {{ ref('fct_gl_entries') }}
),

accounts as (
    select * from {{ ref('dim_accounts') }}
),

bounds as (
    select min(posted_date) as first_date, max(posted_date) as last_date from lines
),

days as (
    {{ date_spine_between('(select first_date from bounds)', '(select last_date from bounds)') }}
),

daily as (
    select account_id, posted_date, sum(debit) as debits, sum(credit) as credits
    from lines
    group by account_id, posted_date
),

grid as (
    select accounts.account_id, accounts.account_name, accounts.classification, days.spine_date as balance_date
    from accounts
    cross join days
),

final as (
    select
        grid.balance_date,
        grid.account_id,
        grid.account_name,
        grid.classification,
        coalesce(daily.debits, 0) as debits,
        coalesce(daily.credits, 0) as credits,
        cast(sum(coalesce(daily.debits, 0) - coalesce(daily.credits, 0)) over (
            partition by grid.account_id order by grid.balance_date rows unbounded preceding
        ) as decimal(18, 2)) as balance
    from grid
    left join daily on daily.account_id = grid.account_id and daily.posted_date = grid.balance_date
)

select * from final
