-- Deal → company associations, one row per pair. HubSpot's v3 list labels the primary association
-- `deal_to_company` (v4 adds labelled ones such as `deal_to_company_unlabeled`); `is_primary` marks
-- one company per deal: the `deal_to_company` one, else the lowest company id.
with source as (
    {{ optional_raw('raw_hubspot', 'deals_companies', {
        'deal_id': dbt.type_string(),
        'company_id': dbt.type_string(),
        'type': dbt.type_string(),
    }) }}
),

renamed as (
    select distinct
        {{ as_text('deal_id') }} as deal_id,
        {{ as_text('company_id') }} as company_id,
        type as association_type
    from source
),

ranked as (
    select
        deal_id,
        company_id,
        association_type,
        row_number() over (
            partition by deal_id
            order by case when association_type = 'deal_to_company' then 0 else 1 end, company_id
        ) = 1 as is_primary
    from renamed
)

select * from ranked
