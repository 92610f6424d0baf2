-- Every accepted match between records of two systems, with the rule that made it.
with payout_matches as (
    select * from {{ ref('int_payouts_matched') }}
),

transfer_matches as (
    select * from {{ ref('int_transfers_matched') }}
),

ledger_matches as (
    select * from {{ ref('int_bank_lines_booked') }}
),

unioned as (
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
    union all
    select
        {{ dbt.hash("'transfer|' || out_transaction_id || '|' || in_transaction_id") }} as match_id,
        rule,
        confidence,
        out_transaction_id as bank_transaction_id,
        'bank_transaction' as counterpart_type,
        in_transaction_id as counterpart_id,
        out_amount as bank_amount,
        in_amount as counterpart_amount,
        -- different currencies: the difference is not meaningful; the realised rate is
        cast(null as decimal(18, 2)) as amount_difference
    from transfer_matches
    union all
    select
        {{ dbt.hash("'ledger|' || bank_transaction_id || '|' || ledger_line_id") }} as match_id,
        rule,
        confidence,
        bank_transaction_id,
        'ledger_entry' as counterpart_type,
        entry_id as counterpart_id,
        bank_amount,
        ledger_amount as counterpart_amount,
        case when bank_currency = document_currency then bank_amount - ledger_amount end as amount_difference
    from ledger_matches
),

final as (
    select * from unioned
)

select * from final
