-- Every accepted match between records of two systems, with the rule that made it.
with payout_matches as (
    select * from {{ ref('int_payouts_matched') }}
),

final as (
    select
        {{ dbt.hash("'payout|' || bank_transaction_id || '|' || payout_id") }} as match_id,
        rule,
        confidence,
        bank_transaction_id,
        'stripe_payout' as counterpart_type,
        payout_id as counterpart_id,
        bank_amount,
        payout_amount as counterpart_amount,
        bank_amount - payout_amount as amount_difference
    from payout_matches
)

select * from final
