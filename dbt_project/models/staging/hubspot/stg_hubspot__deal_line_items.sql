-- Deal → line item associations, one row per pair (HubSpot's v3 type `deal_to_line_item`). A line
-- item belongs to one deal; a deal has any number of line items, or none.
with source as (
    {{ optional_raw('raw_hubspot', 'deals_line_items', {
        'deal_id': dbt.type_string(),
        'line_item_id': dbt.type_string(),
        'type': dbt.type_string(),
    }) }}
),

renamed as (
    select distinct
        {{ as_text('deal_id') }} as deal_id,
        {{ as_text('line_item_id') }} as line_item_id,
        type as association_type
    from source
)

select * from renamed
