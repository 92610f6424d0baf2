-- One row per resolved customer across Stripe, Shopify, HubSpot and QuickBooks: its ids in each
-- system and how it is reached. Grain: one customer_key.
with members as (
    select * from {{ ref('int_customers_resolved') }}
),

ids as (
    select
        customer_key,
        min(customer_name) as customer_name,
        min(registry_customer_key) as registry_customer_key,
        max(case when is_company_record then 1 else 0 end) = 1 as is_company,
        min(email) as email,
        min(web_domain) as web_domain,
        {{ string_agg_ordered("case when source = 'stripe' then source_id end", ', ', 'source_id') }} as stripe_customer_ids,
        {{ string_agg_ordered("case when source = 'shopify' then source_id end", ', ', 'source_id') }} as shopify_customer_ids,
        {{ string_agg_ordered("case when source = 'hubspot' then source_id end", ', ', 'source_id') }} as hubspot_company_ids,
        {{ string_agg_ordered("case when source = 'quickbooks' then source_id end", ', ', 'source_id') }} as qbo_customer_ids,
        count(*) as member_count,
        count(distinct source) as source_count,
        min(created_at) as first_seen_at
    from members
    group by customer_key
),

final as (
    select
        customer_key,
        customer_name,
        registry_customer_key,
        is_company,
        email,
        web_domain,
        stripe_customer_ids,
        shopify_customer_ids,
        hubspot_company_ids,
        qbo_customer_ids,
        member_count,
        source_count,
        first_seen_at
    from ids
)

select * from final
