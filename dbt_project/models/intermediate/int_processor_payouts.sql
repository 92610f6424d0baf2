-- Every payout a payment processor sends the company's bank, Stripe's and Shopify Payments', in one
-- shape: `arrival_date` is the first day the bank can book it (Stripe's arrival date; Shopify's
-- payout date, since Shopify gives no arrival date), `expected_bank_date` the day the bank is
-- expected to book it (Stripe's arrival date; the business day after a Shopify payout's date), and
-- `bank_keyword` the word the processor's bank lines carry, which the amount rules require.
with stripe as (
    select
        cast('stripe' as {{ dbt.type_string() }}) as processor,
        payout_id,
        arrival_date,
        arrival_date as expected_bank_date,
        currency,
        amount,
        status
    from {{ ref('stg_stripe__payouts') }}
),

shopify as (
    select
        cast('shopify' as {{ dbt.type_string() }}) as processor,
        payout_id,
        payout_date as arrival_date,
        {{ next_business_day('payout_date') }} as expected_bank_date,
        currency,
        amount,
        status
    from {{ ref('stg_shopify__payouts') }}
),

unioned as (
    select * from stripe
    union all
    select * from shopify
),

final as (
    select
        unioned.*,
        upper(processor) as bank_keyword
    from unioned
)

select * from final
