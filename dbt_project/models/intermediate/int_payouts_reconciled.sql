-- Each paid processor payout (Stripe, Shopify Payments) against what it settled: payout amount =
-- Σ net of its balance transactions = gross − fees + refunds + disputes + other (refunds and
-- disputes signed as the processor moves them: a dispute's withdrawal negative, a won dispute's
-- reinstatement positive; `fees` include the dispute fees, also shown apart as `dispute_fees`).
-- A Shopify payout's own `payout` balance transaction (the money leaving) is not one it settles.
-- A difference is a payout_mismatch.
with payouts as (
    select processor, payout_id, arrival_date, currency, amount
    from {{ ref('int_processor_payouts') }}
    where status = 'paid'
),

-- a Stripe dispute's transactions are `adjustment`s: told apart by the reporting category, or by
-- their source being a loaded dispute
dispute_transactions as (
    select balance_transactions.balance_transaction_id
    from {{ ref('stg_stripe__balance_transactions') }} as balance_transactions
    left join {{ ref('stg_stripe__disputes') }} as disputes
        on balance_transactions.source_id = disputes.dispute_id
    where balance_transactions.reporting_category in ('dispute', 'dispute_reversal')
        or disputes.dispute_id is not null
),

-- what each payout settled, both processors in one shape (`kind`: charge, refund, dispute, other)
settled as (
    select
        members.payout_id,
        case
            when dispute_transactions.balance_transaction_id is not null then 'dispute'
            when members.type = 'charge' then 'charge'
            when members.type in ('refund', 'payment_refund') then 'refund'
            else 'other'
        end as kind,
        members.amount,
        members.fee,
        members.net
    from {{ ref('stg_stripe__payout_balance_transactions') }} as members
    left join dispute_transactions
        on members.balance_transaction_id = dispute_transactions.balance_transaction_id
    union all
    select
        payout_id,
        case when type in ('charge', 'refund', 'dispute') then type else 'other' end as kind,
        amount,
        fee,
        net
    from {{ ref('stg_shopify__balance_transactions') }}
    where payout_id is not null and type <> 'payout'
),

members as (
    select
        payout_id,
        count(*) as transactions,
        sum(case when kind = 'charge' then 1 else 0 end) as charges,
        sum(case when kind = 'charge' then amount else 0 end) as gross,
        sum(fee) as fees,
        sum(case when kind = 'refund' then amount else 0 end) as refunds,
        sum(case when kind = 'dispute' then 1 else 0 end) as dispute_transactions,
        sum(case when kind = 'dispute' then amount else 0 end) as disputes,
        sum(case when kind = 'dispute' then fee else 0 end) as dispute_fees,
        -- amounts, not nets: `fees` already holds every transaction's fee, theirs included
        sum(case when kind = 'other' then amount else 0 end) as other,
        sum(net) as net
    from settled
    group by payout_id
),

final as (
    select
        payouts.processor,
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
)

select * from final
