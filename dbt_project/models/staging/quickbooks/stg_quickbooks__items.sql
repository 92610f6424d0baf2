-- Items say which income account a sales line credits. Until the source has loaded items, invoice
-- lines fall back to the ledger's only Income account named like the item (see int_gl_lines_derived).
{%- set text = dbt.type_string() %}
with source as (
    {{ optional_raw('raw_quickbooks', 'item', {
        'id': text, 'name': text, 'type': text, 'income_account_ref__value': text,
        'active': 'boolean', '_is_deleted': 'boolean'}) }}
),

renamed as (
    select
        id as item_id,
        name as item_name,
        type as item_type,
        income_account_ref__value as income_account_id,
        cast(active as boolean) as is_active
    from source
    where {{ qbo_live() }}
)

select * from renamed
