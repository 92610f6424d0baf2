-- HubSpot companies, one row per (not archived) company.
with source as (
    {{ optional_raw('raw_hubspot', 'companies', {
        'id': dbt.type_string(),
        'created_at': 'timestamp with time zone',
        'updated_at': 'timestamp with time zone',
        'archived': 'boolean',
        'properties__name': dbt.type_string(),
        'properties__domain': dbt.type_string(),
        'properties__country': dbt.type_string(),
        'properties__createdate': 'timestamp with time zone',
        'properties__hs_lastmodifieddate': 'timestamp with time zone',
    }) }}
),

live as (
    select * from source
    where coalesce(archived, false) = false
),

renamed as (
    select
        {{ as_text('id') }} as company_id,
        properties__name as company_name,
        lower(nullif(trim(properties__domain), '')) as domain,
        properties__country as country,
        (coalesce(properties__createdate, created_at) at time zone 'UTC') as created_at,
        (coalesce(properties__hs_lastmodifieddate, updated_at) at time zone 'UTC') as updated_at
    from live
)

select * from renamed
