-- HubSpot contacts, one row per (not archived) contact.
with source as (
    {{ optional_raw('raw_hubspot', 'contacts', {
        'id': dbt.type_string(),
        'created_at': 'timestamp with time zone',
        'updated_at': 'timestamp with time zone',
        'archived': 'boolean',
        'properties__email': dbt.type_string(),
        'properties__firstname': dbt.type_string(),
        'properties__lastname': dbt.type_string(),
        'properties__createdate': 'timestamp with time zone',
        'properties__lastmodifieddate': 'timestamp with time zone',
    }) }}
),

live as (
    select * from source
    where coalesce(archived, false) = false
),

renamed as (
    select
        {{ as_text('id') }} as contact_id,
        lower(nullif(trim(properties__email), '')) as email,
        properties__firstname as first_name,
        properties__lastname as last_name,
        (coalesce(properties__createdate, created_at) at time zone 'UTC') as created_at,
        (coalesce(properties__lastmodifieddate, updated_at) at time zone 'UTC') as updated_at
    from live
)

select * from renamed
