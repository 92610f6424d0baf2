{#- Columns every QuickBooks transaction header shares (dlt's snake_case of QBO's names).
    `source_link`: QuickBooks has no field for the record an integration booked from; ledgerlake's
    sync writes it into PrivateNote as "ledgerlake-sync: <id>", hand-keyed entries carry the clerk's
    own note (docs/decisions.md, "Manual entries"). -#}
{% macro qbo_header_columns(relation) -%}
    {#- QBO sends ExchangeRate only where the company has multicurrency on; 1 otherwise. -#}
    {%- set has_rate = [] -%}
    {%- if execute -%}
        {%- for col in adapter.get_columns_in_relation(relation) -%}
            {%- if col.name | lower == 'exchange_rate' -%}{%- do has_rate.append(1) -%}{%- endif -%}
        {%- endfor -%}
    {%- endif %}
        cast(txn_date as date) as transaction_date,
        upper(coalesce(currency_ref__value, '{{ var("functional_currency") }}')) as currency,
        cast({% if has_rate %}coalesce(exchange_rate, 1){% else %}1{% endif %} as {{ type_double() }}) as exchange_rate,
        private_note,
        case when private_note like 'ledgerlake-sync:%' then true else false end as is_integration,
        case when private_note like 'ledgerlake-sync:%'
            then trim(substr(private_note, {{ 'ledgerlake-sync:' | length + 1 }})) end as source_link,
        cast(meta_data__create_time as {{ dbt.type_timestamp() }}) as created_at,
        cast(meta_data__last_updated_time as {{ dbt.type_timestamp() }}) as updated_at
{%- endmacro %}

{#- Live rows only: CDC deletions stay in raw with _is_deleted = true. -#}
{% macro qbo_live() -%}
    coalesce(cast(_is_deleted as boolean), false) = false
{%- endmacro %}
