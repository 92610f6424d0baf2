-- Daily rate of every currency the company banks in, to the functional currency, from rates the
-- company actually met: its own conversions (transfers between its accounts) and the rates its shop
-- converted customers' payments at (Shopify's shop vs presentment totals). The rate of a day is the
-- mean of that day's observations, else the latest before it (the first one before any).
-- Grain: rate_date, currency. The functional currency itself has rate 1.
with transfers as (
    select * from {{ ref('int_transfers_matched') }}
),

bank_days as (
    select * from {{ ref('bank_balances_daily') }}
),

observations as (
    -- functional -> foreign: in_amount foreign per out_amount functional
    select
        cast(lines.booking_date as date) as observed_on,
        transfers.in_currency as currency,
        cast(-transfers.out_amount / nullif(transfers.in_amount, 0) as {{ type_double() }}) as rate_to_functional
    from transfers
    inner join {{ ref('fct_bank_transactions') }} as lines
        on transfers.out_transaction_id = lines.bank_transaction_id
    where transfers.out_currency = '{{ var("functional_currency") }}'
        and transfers.in_currency <> '{{ var("functional_currency") }}'
    union all
    -- foreign -> functional
    select
        cast(lines.booking_date as date) as observed_on,
        transfers.out_currency as currency,
        cast(transfers.in_amount / nullif(-transfers.out_amount, 0) as {{ type_double() }}) as rate_to_functional
    from transfers
    inner join {{ ref('fct_bank_transactions') }} as lines
        on transfers.in_transaction_id = lines.bank_transaction_id
    where transfers.in_currency = '{{ var("functional_currency") }}'
        and transfers.out_currency <> '{{ var("functional_currency") }}'
),

shop_observations as (
    select
        cast(created_at as date) as observed_on,
        presentment_currency as currency,
        cast(presentment_rate as {{ type_double() }}) as rate_to_functional
    from {{ ref('stg_shopify__orders') }}
    where currency = '{{ var("functional_currency") }}'
        and presentment_currency <> '{{ var("functional_currency") }}'
        and presentment_rate is not null
),

all_observations as (
    select * from observations
    union all
    select * from shop_observations
),

daily_observations as (
    select observed_on, currency, avg(rate_to_functional) as rate_to_functional
    from all_observations
    group by observed_on, currency
),

days as (
    select distinct balance_date as rate_date from bank_days
),

currencies as (
    select distinct currency from bank_days where currency <> '{{ var("functional_currency") }}'
),

candidates as (
    select
        days.rate_date,
        currencies.currency,
        obs.observed_on,
        obs.rate_to_functional,
        row_number() over (
            partition by days.rate_date, currencies.currency
            -- the latest observation on or before the day; failing that, the earliest after it
            order by case when obs.observed_on <= days.rate_date then 0 else 1 end,
                case when obs.observed_on <= days.rate_date then obs.observed_on end desc,
                obs.observed_on
        ) as pick
    from days
    cross join currencies
    inner join daily_observations as obs
        on obs.currency = currencies.currency
),

foreign_rates as (
    select
        rate_date,
        currency,
        rate_to_functional,
        observed_on,
        observed_on > rate_date as is_backfilled
    from candidates
    where pick = 1
),

functional as (
    select
        rate_date,
        '{{ var("functional_currency") }}' as currency,
        cast(1.0 as {{ type_double() }}) as rate_to_functional,
        rate_date as observed_on,
        false as is_backfilled
    from days
),

final as (
    select * from foreign_rates
    union all
    select * from functional
)

select * from final
