-- Statement lines from bank files (camt.053, OFX, MT940, BAI2, CSV), already signed + = money in
-- and deduplicated across overlapping statements by their fingerprint at load time.
{%- set text = dbt.type_string() %}
with source as (
    {{ optional_raw('raw_bank_files', 'transactions', {
        'fingerprint': text, 'account_id': text, 'statement_id': text, 'booking_date': 'date',
        'value_date': 'date', 'amount': 'decimal(18, 2)', 'currency': text, 'counterparty_name': text,
        'counterparty_account': text, 'remittance_info': text, 'bank_reference': text,
        'end_to_end_ref': text, 'transaction_code': text, 'source_format': text, 'source_file': text,
        'position': dbt.type_bigint()}) }}
),

renamed as (
    select
        fingerprint as bank_transaction_id,
        account_id,
        statement_id,
        cast(booking_date as date) as booking_date,
        cast(value_date as date) as value_date,
        cast(amount as decimal(18, 2)) as amount,
        upper(currency) as currency,
        counterparty_name,
        counterparty_account,
        remittance_info,
        coalesce(end_to_end_ref, bank_reference) as reference_number,
        transaction_code,
        source_format,
        source_file,
        position
    from source
)

select * from renamed
