-- One row per card payment (Stripe charge), with its processor fee, refunds and dispute.
with charges as (
    select * from {{ ref('stg_stripe__charges') }}
),

balance_transactions as (
    select * from {{ ref('stg_stripe__balance_transactions') }}
),

refunds as (
    select charge_id, count(*) as refund_count, sum(amount) as refunded
    from {{ ref('stg_stripe__refunds') }}
    where status in ('succeeded', 'pending')
    group by charge_id
),

-- Stripe allows one dispute per charge; should a source send more, the latest one counts
disputes_ranked as (
    select
        charge_id,
        status,
        amount,
        row_number() over (partition by charge_id order by created_at desc, dispute_id desc) as position
    from {{ ref('stg_stripe__disputes') }}
),

disputes as (
    select charge_id, status, amount
    from disputes_ranked
    where position = 1
),

final as (
    select
        charges.charge_id as payment_id,
        'stripe' as source_system,
        charges.charge_id as source_record_id,
        charges.customer_id,
        charges.created_at,
        cast(charges.created_at as date) as payment_date,
        charges.currency,
        charges.amount,
        coalesce(bt.fee, 0) as fee,
        coalesce(refunds.refunded, charges.amount_refunded, 0) as amount_refunded,
        charges.amount - coalesce(bt.fee, 0) - coalesce(refunds.refunded, charges.amount_refunded, 0) as net,
        bt.currency as settlement_currency,
        bt.amount as settlement_amount,
        bt.exchange_rate,
        coalesce(refunds.refund_count, 0) as refund_count,
        charges.status,
        charges.is_refunded,
        -- the dispute object when loaded; the charge's own flag may be stale (Stripe sends no
        -- charge event when a charge is disputed)
        (disputes.charge_id is not null or coalesce(charges.is_disputed, false)) as is_disputed,
        disputes.status as dispute_status,
        coalesce(disputes.amount, 0) as disputed_amount,
        charges.balance_transaction_id,
        bt.available_on
    from charges
    left join balance_transactions as bt
        on charges.balance_transaction_id = bt.balance_transaction_id
    left join refunds
        on charges.charge_id = refunds.charge_id
    left join disputes
        on charges.charge_id = disputes.charge_id
)

select * from final
