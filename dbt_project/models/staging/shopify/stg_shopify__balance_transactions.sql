-- Shopify Payments balance transactions, one row per movement of the Shopify Payments balance:
-- a charge (gross = what the customer paid, in the shop currency), a refund (negative gross; Shopify
-- keeps the charge's fee), a dispute, an adjustment, or a payout (negative: the money leaving for
-- the bank). `net` = gross − fee. `payout_id` is the payout that pays it out (null while `pending`).
with source as (
    {{ optional_raw('raw_shopify', 'balance_transactions', {
        'id': 'bigint',
        'type': dbt.type_string(),
        'test': 'boolean',
        'payout_id': 'bigint',
        'payout_status': dbt.type_string(),
        'currency': dbt.type_string(),
        'amount': dbt.type_string(),
        'fee': dbt.type_string(),
        'net': dbt.type_string(),
        'source_id': 'bigint',
        'source_type': dbt.type_string(),
        'source_order_id': 'bigint',
        'source_order_transaction_id': 'bigint',
        'processed_at': 'timestamp with time zone',
    }) }}
),

renamed as (
    select
        {{ as_text('id') }} as balance_transaction_id,
        type,
        {{ as_text('payout_id') }} as payout_id,
        payout_status,
        upper(currency) as currency,
        cast(amount as decimal(18, 2)) as amount,
        cast(fee as decimal(18, 2)) as fee,
        cast(net as decimal(18, 2)) as net,
        {{ as_text('source_id') }} as source_id,
        source_type,
        {{ as_text('source_order_id') }} as order_id,
        {{ as_text('source_order_transaction_id') }} as order_transaction_id,
        (processed_at at time zone 'UTC') as processed_at
    from source
    where coalesce(test, false) = false
)

select * from renamed
