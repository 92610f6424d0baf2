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

deal_matches as (
    select * from {{ ref('int_deals_invoiced') }}
),

shop_matches as (
    select * from {{ ref('int_orders_booked') }}
    where status = 'matched'
),

unioned as (
    select
        {{ dbt.hash("'payout|' || bank_transaction_id || '|' || payout_id") }} as match_id,
        rule,
        confidence,
        bank_transaction_id,
        processor || '_payout' as counterpart_type,
        payout_id as counterpart_id,
        bank_amount,
        payout_amount as counterpart_amount,
        bank_amount - payout_amount as amount_difference,
        'bank_transaction' as record_type,
        bank_transaction_id as record_id
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
        cast(null as decimal(18, 2)) as amount_difference,
        'bank_transaction' as record_type,
        out_transaction_id as record_id
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
        case when bank_currency = document_currency then bank_amount - ledger_amount end as amount_difference,
        'bank_transaction' as record_type,
        bank_transaction_id as record_id
    from ledger_matches
    union all
    -- won CRM deal <-> its ledger invoice: no bank line; an amount difference is reported by
    -- int_crm_exceptions as invoice_amount_differs_from_deal
    select
        {{ dbt.hash("'deal_invoice|' || deal_id || '|' || invoice_id") }} as match_id,
        rule,
        confidence,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        'quickbooks_invoice' as counterpart_type,
        invoice_id as counterpart_id,
        cast(null as decimal(18, 2)) as bank_amount,
        invoice_amount as counterpart_amount,
        cast(null as decimal(18, 2)) as amount_difference,
        'hubspot_deal' as record_type,
        deal_id as record_id
    from deal_matches
    union all
    -- a Shopify order day (its orders and refunds) <-> the ledger's daily sales summary: no bank
    -- line; an amount difference is reported as amount_mismatch from int_orders_booked
    select
        {{ dbt.hash("'shop_day|' || order_day_id || '|' || entry_id") }} as match_id,
        rule,
        confidence,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        'quickbooks_journal_entry' as counterpart_type,
        entry_id as counterpart_id,
        cast(null as decimal(18, 2)) as bank_amount,
        ledger_net as counterpart_amount,
        cast(null as decimal(18, 2)) as amount_difference,
        'shopify_order_day' as record_type,
        order_day_id as record_id
    from shop_matches
),

final as (
    select * from unioned
)

select * from final
