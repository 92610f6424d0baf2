-- Every payout a payment processor sends the company's bank, Stripe's and Shopify Payments', in one
-- shape: `arrival_date` is the first day the bank can book it (Stripe's arrival date; Shopify's
-- payout date, since Shopify gives no arrival date), and `bank_keyword` the word the processor's
-- bank lines carry, which the amount-and-date rule requires.
with stripe as (
    select
        cast('stripe' as {{ dbt.type_string() }}) as processor,
        payout_id,
        arrival_date,
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
