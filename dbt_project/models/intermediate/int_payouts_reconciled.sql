-- Each payout against what it settled: payout amount = Σ net of its balance transactions
-- (charges − fees − refunds − dispute debits ± adjustments). A difference is a payout_mismatch.
with payouts as (
    select * from {{ ref('stg_stripe__payouts') }}
),

members as (
    select
        payout_id,
        count(*) as transactions,
        sum(case when type = 'charge' then 1 else 0 end) as charges,
        sum(case when type = 'charge' then amount else 0 end) as gross,
        sum(fee) as fees,
        sum(case when type in ('refund', 'payment_refund') then amount else 0 end) as refunds,
        sum(net) as net
    from {{ ref('stg_stripe__payout_balance_transactions') }}
    group by payout_id
),

final as (
    select
        payouts.payout_id,
        payouts.arrival_date,
        payouts.currency,
        payouts.amount as payout_amount,
        members.transactions,
        members.charges,
        members.gross,
        members.fees,
        members.refunds,
        members.net as settled_net,
        payouts.amount - members.net as difference,
        members.payout_id is not null as has_members
    from payouts
    left join members on members.payout_id = payouts.payout_id
    where payouts.status = 'paid'
)

select * from final
