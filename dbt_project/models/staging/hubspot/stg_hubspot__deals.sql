-- HubSpot deals, one row per (not archived) deal. Properties are strings in the API: amount to
-- decimal(18,2) in the deal's currency, stage probability to double, the closed/won flags to
-- booleans; timestamps to UTC without time zone. `closed_at` is the actual close of a closed deal and
-- the expected close of an open one (HubSpot keeps both in `closedate`).
with source as (
    {{ optional_raw('raw_hubspot', 'deals', {
        'id': dbt.type_string(),
        'created_at': 'timestamp with time zone',
        'updated_at': 'timestamp with time zone',
        'archived': 'boolean',
        'properties__dealname': dbt.type_string(),
        'properties__amount': dbt.type_string(),
        'properties__deal_currency_code': dbt.type_string(),
        'properties__dealstage': dbt.type_string(),
        'properties__pipeline': dbt.type_string(),
        'properties__closedate': 'timestamp with time zone',
        'properties__createdate': 'timestamp with time zone',
        'properties__hs_lastmodifieddate': 'timestamp with time zone',
        'properties__hs_deal_stage_probability': dbt.type_string(),
        'properties__hs_is_closed': dbt.type_string(),
        'properties__hs_is_closed_won': dbt.type_string(),
    }) }}
),

live as (
    select * from source
    where coalesce(archived, false) = false
),

renamed as (
    select
        {{ as_text('id') }} as deal_id,
        properties__dealname as deal_name,
        properties__dealstage as stage,
        properties__pipeline as pipeline,
        cast(nullif(trim(properties__amount), '') as decimal(18, 2)) as amount,
        upper(coalesce(nullif(trim(properties__deal_currency_code), ''), '{{ var("functional_currency") }}')) as currency,
        cast(nullif(trim(properties__hs_deal_stage_probability), '') as {{ type_double() }}) as probability,
        coalesce(lower(properties__hs_is_closed) = 'true', false) as is_closed,
        coalesce(lower(properties__hs_is_closed_won) = 'true', false) as is_won,
        (coalesce(properties__createdate, created_at) at time zone 'UTC') as created_at,
        (properties__closedate at time zone 'UTC') as closed_at,
        (coalesce(properties__hs_lastmodifieddate, updated_at) at time zone 'UTC') as updated_at
    from live
)

select * from renamed
