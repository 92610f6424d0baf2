{%- set text = dbt.type_string() %}
with source as (
    {{ optional_raw('raw_bank_files', 'statements', {
        'statement_id': text, 'account_id': text, 'statement_ref': text, 'currency': text,
        'opening_balance': 'decimal(18, 2)', 'closing_balance': 'decimal(18, 2)', 'from_date': 'date',
        'to_date': 'date', 'source_format': text, 'source_file': text, 'line_count': dbt.type_bigint()}) }}
),

renamed as (
    select
        statement_id,
        account_id,
        statement_ref,
        upper(currency) as currency,
        cast(opening_balance as decimal(18, 2)) as opening_balance,
        cast(closing_balance as decimal(18, 2)) as closing_balance,
        cast(from_date as date) as from_date,
        cast(to_date as date) as to_date,
        source_format,
        source_file,
        line_count
    from source
)

select * from renamed
