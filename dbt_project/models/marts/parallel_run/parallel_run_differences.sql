-- Parallel run: the legacy system's end-of-day balance per account vs the new ledger's
-- (marts.trial_balance), for every day of the window: the dbt vars parallel_run_start /
-- parallel_run_end, by default the days the legacy export covers. Legacy accounts map to
-- dim_accounts by name (case and surrounding spaces ignored): the migration carried the legacy
-- chart's names into QuickBooks, which has no account numbers of its own; a legacy account whose
-- name matches no ledger account is left out (stg_legacy__trial_balance still has it).
-- One row per account and day whose balances differ by more than 0.005, with a guess at the cause
-- taken from the day the difference arose (origin_date):
--   timing          the balances agree again on a later day of the window (booked on another day);
--   account_mapping that day's debits over all accounts agree: the posting landed on another account;
--   missing_posting what one ledger entry moved on the account that day is exactly the change:
--                   legacy lacks that entry;
--   amount          anything else: a posting keyed with another amount.
{%- set window_start = var('parallel_run_start', none) %}
{%- set window_end = var('parallel_run_end', none) %}
with legacy as (
    select * from {{ ref('stg_legacy__trial_balance') }}
),

accounts as (
    select * from {{ ref('dim_accounts') }}
),

trial_balance as (
    select * from {{ ref('trial_balance') }}
),

gl_lines as (
    select * from {{ ref('fct_gl_entries') }}
),

bounds as (
    select
        {% if window_start %}cast('{{ window_start }}' as date){% else %}min(balance_date){% endif %} as start_date,
        {% if window_end %}cast('{{ window_end }}' as date){% else %}max(balance_date){% endif %} as end_date
    from legacy
),

legacy_mapped as (
    select accounts.account_id, legacy.*
    from legacy
    inner join accounts on lower(trim(accounts.account_name)) = lower(trim(legacy.account_name))
    cross join bounds
    where legacy.balance_date between bounds.start_date and bounds.end_date
),

ledger as (
    select trial_balance.*
    from trial_balance
    cross join bounds
    where trial_balance.balance_date between bounds.start_date and bounds.end_date
),

compared as (
    select
        coalesce(ledger.balance_date, legacy_mapped.balance_date) as balance_date,
        coalesce(ledger.account_id, legacy_mapped.account_id) as account_id,
        legacy_mapped.account_no,
        coalesce(ledger.account_name, legacy_mapped.account_name) as account_name,
        legacy_mapped.debit as legacy_debits,
        legacy_mapped.credit as legacy_credits,
        legacy_mapped.balance as legacy_balance,
        ledger.debits as ledger_debits,
        ledger.credits as ledger_credits,
        ledger.balance as ledger_balance,
        coalesce(legacy_mapped.balance, 0) - coalesce(ledger.balance, 0) as difference
    from legacy_mapped
    full outer join ledger
        on ledger.account_id = legacy_mapped.account_id and ledger.balance_date = legacy_mapped.balance_date
),

changes as (
    select
        compared.*,
        difference - coalesce(
            lag(difference) over (partition by account_id order by balance_date), 0
        ) as difference_change
    from compared
),

runs as (
    select
        changes.*,
        max(case when abs(difference_change) > 0.005 then balance_date end) over (
            partition by account_id order by balance_date rows between unbounded preceding and current row
        ) as origin_date,
        min(case when abs(difference) <= 0.005 then balance_date end) over (
            partition by account_id order by balance_date rows between 1 following and unbounded following
        ) as agrees_again_on
    from changes
),

day_totals as (
    select
        balance_date,
        sum(coalesce(legacy_debits, 0)) - sum(coalesce(ledger_debits, 0)) as debits_gap
    from compared
    group by balance_date
),

-- what each ledger entry moved on an account that day (an entry may post several lines to one
-- account, e.g. a sales summary's refunds and its won disputes): the unit legacy may lack
entry_postings as (
    select entry_id, account_id, posted_date, sum(debit) - sum(credit) as net
    from gl_lines
    group by entry_id, account_id, posted_date
),

origins as (
    select
        runs.account_id,
        runs.balance_date as origin_date,
        runs.difference_change as origin_change,
        day_totals.debits_gap,
        case when exists (
            select 1
            from entry_postings
            where entry_postings.account_id = runs.account_id
                and entry_postings.posted_date = runs.balance_date
                and abs(abs(entry_postings.net) - abs(runs.difference_change)) <= 0.005
        ) then 1 else 0 end as equals_a_posting
    from runs
    inner join day_totals on day_totals.balance_date = runs.balance_date
    where abs(runs.difference_change) > 0.005
),

final as (
    select
        runs.balance_date,
        runs.account_id,
        runs.account_no,
        runs.account_name,
        runs.legacy_balance,
        runs.ledger_balance,
        {{ round_money('runs.difference') }} as difference,
        case
            when runs.agrees_again_on is not null then 'timing'
            when abs(origins.debits_gap) <= 0.005 then 'account_mapping'
            when origins.equals_a_posting = 1 then 'missing_posting'
            else 'amount'
        end as difference_type,
        runs.origin_date,
        {{ dbt.datediff('runs.origin_date', 'runs.balance_date', 'day') }} as days_since_origin,
        {{ round_money('origins.origin_change') }} as origin_change,
        runs.legacy_debits,
        runs.legacy_credits,
        runs.ledger_debits,
        runs.ledger_credits
    from runs
    left join origins on origins.account_id = runs.account_id and origins.origin_date = runs.origin_date
    where abs(runs.difference) > 0.005
)

select * from final
