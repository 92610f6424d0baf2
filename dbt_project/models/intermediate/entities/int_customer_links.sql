-- Pairs of customer records and why they are one customer. Blocking is by equal keys only:
--   registry_key   the same registry key (Stripe metadata.customer_key = Shopify tag)   score 1.00
--   email          the same email address                                             score 0.95
--   web_domain     a company's web domain is the other's email domain, or its first
--                  label is the other's name as letters and digits ("Davis LLC" ->
--                  davisllc.com, as HubSpot derives domains)                           score 0.90
--   company_name   the same normalised company name, legal form kept, where one side
--                  is a company system (HubSpot, QuickBooks)                           score 0.85
-- Person names alone never link (namesakes are common). Two records carrying different
-- registry keys never link. Grain: one unordered pair (member_a < member_b) and its best rule.
{# var entity_use_registry_keys (default true): false measures the other rules alone #}
with members as (
    select * from {{ ref('int_customer_names_normalised') }}
),

domain_labels as (
    select member_id, split_part(web_domain, '.', 1) as label
    from members
    where web_domain is not null
),

pairs as (
    select a.member_id as member_a, b.member_id as member_b, 'registry_key' as rule, 1.0 as score
    from members as a
    inner join members as b on a.registry_key = b.registry_key and a.member_id < b.member_id
    where {{ 'true' if var('entity_use_registry_keys', true) else 'false' }}

    union all

    select a.member_id, b.member_id, 'email', 0.95
    from members as a
    inner join members as b on a.email = b.email and a.member_id < b.member_id

    union all

    select
        case when a.member_id < b.member_id then a.member_id else b.member_id end,
        case when a.member_id < b.member_id then b.member_id else a.member_id end,
        'web_domain', 0.9
    from members as a
    inner join members as b
        on a.web_domain is not null and a.member_id <> b.member_id and a.web_domain = b.email_domain

    union all

    select
        case when d.member_id < b.member_id then d.member_id else b.member_id end,
        case when d.member_id < b.member_id then b.member_id else d.member_id end,
        'web_domain', 0.9
    from domain_labels as d
    inner join members as b
        on d.label = substr(b.name_slug, 1, 20) and d.member_id <> b.member_id and {{ dbt.length('b.name_slug') }} >= 4

    union all

    select a.member_id, b.member_id, 'company_name', 0.85
    from members as a
    inner join members as b
        on a.normalised_name = b.normalised_name
        and a.member_id < b.member_id
        and (a.is_company_record or b.is_company_record)
),

best as (
    select
        member_a,
        member_b,
        rule,
        score,
        row_number() over (partition by member_a, member_b order by score desc, rule) as rank_in_pair
    from pairs
),

final as (
    select
        {{ dbt.hash("best.member_a || '|' || best.member_b") }} as link_id,
        best.member_a,
        best.member_b,
        a.source as source_a,
        b.source as source_b,
        a.raw_name as name_a,
        b.raw_name as name_b,
        a.email as email_a,
        b.email as email_b,
        best.rule,
        cast(best.score as {{ type_double() }}) as score,
        not coalesce(a.registry_key <> b.registry_key, false) as is_accepted,
        case when a.registry_key <> b.registry_key then 'different registry keys' end as rejected_because
    from best
    inner join members as a on a.member_id = best.member_a
    inner join members as b on b.member_id = best.member_b
    where best.rank_in_pair = 1
)

select * from final
