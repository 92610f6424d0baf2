-- Every record of a customer in any system, with the identifiers the resolver compares:
-- the registry key some systems carry (Stripe `metadata.customer_key`, Shopify tag
-- `customer_key:...`), the email, the company's web domain (HubSpot) and the normalised company
-- name. Company names keep their legal form here ("Davis LLC" and "Davis Inc" are two customers).
-- Grain: one record (source, source_id).
with stripe as (
    select * from {{ source('entities_stripe', 'customers') }}
),

shopify as (
    select * from {{ source('entities_shopify', 'customers') }}
),

hubspot as (
    select * from {{ source('entities_hubspot', 'companies') }}
),

quickbooks as (
    select * from {{ source('entities_quickbooks', 'customer') }}
),

stripe_records as (
    select
        cast('stripe' as {{ dbt.type_string() }}) as source,
        {{ as_text('id') }} as source_id,
        name as raw_name,
        {{ normalise_email('email') }} as email,
        cast(null as {{ dbt.type_string() }}) as web_domain,
        nullif(trim(metadata__customer_key), '') as registry_key,
        false as is_company_record,
        {{ epoch_to_timestamp('created') }} as created_at
    from stripe
),

shopify_records as (
    select
        cast('shopify' as {{ dbt.type_string() }}) as source,
        {{ as_text('id') }} as source_id,
        trim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) as raw_name,
        {{ normalise_email('email') }} as email,
        cast(null as {{ dbt.type_string() }}) as web_domain,
        nullif({{ regexp_replace_all("coalesce(tags, '')", '^(.*, *)?customer_key:([A-Za-z0-9_-]+).*$|^.*$', '\\2') }}, '') as registry_key,
        false as is_company_record,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at
    from shopify
),

hubspot_records as (
    select
        cast('hubspot' as {{ dbt.type_string() }}) as source,
        {{ as_text('id') }} as source_id,
        properties__name as raw_name,
        cast(null as {{ dbt.type_string() }}) as email,
        {{ entity_domain('properties__domain') }} as web_domain,
        cast(null as {{ dbt.type_string() }}) as registry_key,
        true as is_company_record,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at
    from hubspot
    where not coalesce(archived, false)
),

quickbooks_records as (
    select
        cast('quickbooks' as {{ dbt.type_string() }}) as source,
        {{ as_text('id') }} as source_id,
        coalesce(display_name, company_name) as raw_name,
        {{ normalise_email('primary_email_addr__address') }} as email,
        cast(null as {{ dbt.type_string() }}) as web_domain,
        cast(null as {{ dbt.type_string() }}) as registry_key,
        true as is_company_record,
        cast(meta_data__create_time as {{ dbt.type_timestamp() }}) as created_at
    from quickbooks
    where not coalesce(_is_deleted, false)
),

unioned as (
    select * from stripe_records
    union all
    select * from shopify_records
    union all
    select * from hubspot_records
    union all
    select * from quickbooks_records
),

final as (
    select
        source || ':' || source_id as member_id,
        source,
        source_id,
        raw_name,
        {{ normalise_entity_name('raw_name', strip_legal=false) }} as normalised_name,
        {{ entity_slug('raw_name') }} as name_slug,
        email,
        {{ entity_domain('email') }} as email_domain,
        web_domain,
        registry_key,
        is_company_record,
        created_at
    from unioned
)

select * from final
