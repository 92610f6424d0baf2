-- Each paid processor payout (Stripe, Shopify Payments) against what it settled: payout amount =
-- Σ net of its balance transactions = gross − fees + refunds + disputes + other (refunds and
-- disputes signed as the processor moves them: a dispute's withdrawal negative, a won dispute's
-- reinstatement positive; `fees` include the dispute fees, also shown apart as `dispute_fees`).
-- A Shopify payout's own `payout` balance transaction (the money leaving) is not one it settles.
-- A difference is a payout_mismatch.
with payouts as (
    select * from {{ ref('stg_stripe__payouts') }}
),

-- a dispute's transactions are `adjustment`s: told apart by the reporting category, or by their
-- source being a loaded dispute
dispute_transactions as (
    select balance_transactions.balance_transaction_id
    from {{ ref('stg_stripe__balance_transactions') }} as balance_transactions
    left join {{ ref('stg_stripe__disputes') }} as disputes
        on balance_transactions.source_id = disputes.dispute_id
    where balance_transactions.reporting_category in ('dispute', 'dispute_reversal')
        or disputes.dispute_id is not null
),

settled as (
    select
        members.*,
        dispute_transactions.balance_transaction_id is not null as is_dispute
    from {{ ref('stg_stripe__payout_balance_transactions') }} as members
    left join dispute_transactions
        on members.balance_transaction_id = dispute_transactions.balance_transaction_id
),

members as (
    select
        payout_id,
        count(*) as transactions,
        sum(case when type = 'charge' then 1 else 0 end) as charges,
        sum(case when type = 'charge' then amount else 0 end) as gross,
        sum(fee) as fees,
        sum(case when type in ('refund', 'payment_refund') then amount else 0 end) as refunds,
        sum(case when is_dispute then 1 else 0 end) as dispute_transactions,
        sum(case when is_dispute then amount else 0 end) as disputes,
        sum(case when is_dispute then fee else 0 end) as dispute_fees,
        -- amounts, not nets: `fees` already holds every transaction's fee, theirs included
        sum(case when type in ('charge', 'refund', 'payment_refund') or is_dispute then 0 else amount end)
            as other,
        sum(net) as net
    from settled
    group by payout_id
),

stripe as (
    select
        cast('stripe' as {{ dbt.type_string() }}) as processor,
        payouts.payout_id,
        payouts.arrival_date,
        payouts.currency,
        payouts.amount as payout_amount,
        members.transactions,
        members.charges,
        members.gross,
        members.fees,
        members.refunds,
        members.dispute_transactions,
        members.disputes,
        members.dispute_fees,
        members.other,
        members.net as settled_net,
        payouts.amount - members.net as difference,
        members.payout_id is not null as has_members
    from payouts
    left join members on members.payout_id = payouts.payout_id
    where payouts.status = 'paid'
),

shopify_members as (
    select
        payout_id,
        count(*) as transactions,
        sum(case when type = 'charge' then 1 else 0 end) as charges,
        sum(case when type = 'charge' then amount else 0 end) as gross,
        sum(fee) as fees,
        sum(case when type = 'refund' then amount else 0 end) as refunds,
        sum(case when type = 'dispute' then 1 else 0 end) as dispute_transactions,
        sum(case when type = 'dispute' then amount else 0 end) as disputes,
        sum(case when type = 'dispute' then fee else 0 end) as dispute_fees,
        sum(case when type in ('charge', 'refund', 'dispute') then 0 else amount end) as other,
        sum(net) as net
    from {{ ref('stg_shopify__balance_transactions') }}
    where payout_id is not null and type <> 'payout'
    group by payout_id
),

shopify as (
    select
        cast('shopify' as {{ dbt.type_string() }}) as processor,
        payouts.payout_id,
        payouts.payout_date as arrival_date,
        payouts.currency,
        payouts.amount as payout_amount,
        shopify_members.transactions,
        shopify_members.charges,
        shopify_members.gross,
        shopify_members.fees,
        shopify_members.refunds,
        shopify_members.dispute_transactions,
        shopify_members.disputes,
        shopify_members.dispute_fees,
        shopify_members.other,
        shopify_members.net as settled_net,
        payouts.amount - shopify_members.net as difference,
        shopify_members.payout_id is not null as has_members
    from {{ ref('stg_shopify__payouts') }} as payouts
    left join shopify_members on shopify_members.payout_id = payouts.payout_id
    where payouts.status = 'paid'
),

final as (
    select * from stripe
    union all
    select * from shopify
)

select * from final
