-- The legacy accounting system's trial balance for the parallel run: one row per legacy account and
-- day (ingestion/legacy parses the export's decimal commas and DD.MM.YYYY dates). Balance = cumulative
-- debit − credit, the same sign rule as marts.trial_balance.
{%- set text = dbt.type_string() %}
with source as (
    {{ optional_raw('raw_legacy', 'trial_balance', {
        'date': 'date', 'account_no': text, 'account_name': text, 'debit': 'decimal(18, 2)',
        'credit': 'decimal(18, 2)', 'balance': 'decimal(18, 2)', 'source_file': text,
        'row_number': dbt.type_bigint()}) }}
),

renamed as (
    select
        cast("date" as date) as balance_date,
        cast(account_no as {{ text }}) as account_no,
        trim(account_name) as account_name,
        cast(debit as decimal(18, 2)) as debit,
        cast(credit as decimal(18, 2)) as credit,
        cast(balance as decimal(18, 2)) as balance,
        source_file
    from source
)

select * from renamed
