-- What each automatic payout settled: its balance transactions (charges, refunds, fees, adjustments),
-- as Stripe lists them for `balance_transactions?payout=`; the payout's own transaction excluded.
{%- set text = dbt.type_string() %}
with source as (
    {{ optional_raw('raw_stripe', 'payout_balance_transactions', {
        'payout_id': text, 'balance_transaction_id': text, 'type': text, 'currency': text,
        'amount': dbt.type_bigint(), 'fee': dbt.type_bigint(), 'net': dbt.type_bigint()}) }}
),

renamed as (
    select
        payout_id,
        balance_transaction_id,
        type,
        upper(currency) as currency,
        {{ minor_to_major('amount', 'currency') }} as amount,
        {{ minor_to_major('fee', 'currency') }} as fee,
        {{ minor_to_major('net', 'currency') }} as net
    from source
    where type <> 'payout'
)

select * from renamed
