-- Every customer record -> its resolved customer: connected components of the accepted links.
-- customer_key is a hash of the cluster's most stable identifier — its registry key when a
-- system carries one, else its first email, else its company name, else its first record — so
-- it survives records coming and going. Grain: one record (source, source_id).
with recursive members as (
    select * from {{ ref('int_customer_names_normalised') }}
),

links as (
    select * from {{ ref('int_customer_links') }} where is_accepted
),

{{ connected_components(
    'customer',
    "select member_id as node from members",
    "select member_a as a, member_b as b from links"
) }},

with_members as (
    select members.*, customer_components.component
    from members
    inner join customer_components on customer_components.node = members.member_id
),

identifiers as (
    select
        component,
        min(registry_key) as registry_key,
        min(email) as first_email,
        min(case when is_company_record then normalised_name end) as company_name,
        min(member_id) as first_member
    from with_members
    group by component
),

{#- the display name: the company systems' name, else the most recent person name -#}
names_ranked as (
    select
        component,
        raw_name,
        row_number() over (
            partition by component
            order by case source when 'quickbooks' then 0 when 'hubspot' then 1 when 'stripe' then 2 else 3 end,
                created_at desc,
                member_id
        ) as rank_in_cluster
    from with_members
    where raw_name is not null and raw_name <> ''
),

final as (
    select
        with_members.member_id,
        with_members.source,
        with_members.source_id,
        with_members.raw_name,
        with_members.normalised_name,
        with_members.email,
        with_members.web_domain,
        with_members.registry_key as member_registry_key,
        with_members.is_company_record,
        with_members.created_at,
        {{ dbt.hash("case when identifiers.registry_key is not null then 'registry|' || identifiers.registry_key
            when identifiers.first_email is not null then 'email|' || identifiers.first_email
            when identifiers.company_name is not null then 'name|' || identifiers.company_name
            else 'record|' || identifiers.first_member end") }} as customer_key,
        identifiers.registry_key as registry_customer_key,
        names_ranked.raw_name as customer_name
    from with_members
    inner join identifiers on identifiers.component = with_members.component
    left join names_ranked on names_ranked.component = with_members.component and names_ranked.rank_in_cluster = 1
)

select * from final
