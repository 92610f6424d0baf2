-- Every vendor name -> its resolved vendor. Clusters are the connected components of the
-- accepted links between names of a known, equal currency; a name of unknown currency (a QBO
-- vendor without bills, or billed in two currencies) then joins the one cluster it links to best
-- (score, then the bigger cluster), so it can never bridge AWS EMEA and AWS US. Names of unknown
-- currency that link to no such cluster form components among themselves.
-- vendor_key: hash of the cluster's canonical normalised name and currency, so it stays the same
-- when members come and go. Grain: one member (source, source_id).
with recursive members as (
    select * from {{ ref('int_vendor_names_normalised') }}
),

links as (
    select * from {{ ref('int_vendor_links') }} where is_accepted
),

{{ connected_components(
    'known',
    "select member_id as node from members where currency is not null",
    "select member_a as a, member_b as b from links where currency_a = currency_b"
) }},

known_sizes as (
    select component, count(*) as n_members from known_components group by component
),

floating_candidates as (
    select
        members.member_id,
        known_components.component,
        links.score,
        known_sizes.n_members
    from members
    inner join links on members.member_id in (links.member_a, links.member_b)
    inner join known_components
        on known_components.node = case when links.member_a = members.member_id then links.member_b else links.member_a end
    inner join known_sizes on known_sizes.component = known_components.component
    where members.currency is null
),

floating_ranked as (
    select
        member_id,
        component,
        row_number() over (partition by member_id order by score desc, n_members desc, component) as rank_in_member
    from floating_candidates
),

floating_attached as (
    select member_id as node, component from floating_ranked where rank_in_member = 1
),

{{ connected_components(
    'loose',
    "select member_id as node from members where currency is null and member_id not in (select node from floating_attached)",
    "select member_a as a, member_b as b from links where currency_a is null and currency_b is null
        and member_a not in (select node from floating_attached) and member_b not in (select node from floating_attached)"
) }},

assigned as (
    select node as member_id, component from known_components
    union all
    select node, component from floating_attached
    union all
    select loose_components.node, loose_components.component
    from loose_components
    where loose_components.node not in (select node from floating_attached)
),

with_members as (
    select members.*, assigned.component
    from assigned
    inner join members on members.member_id = assigned.member_id
),

{#- the canonical name: the ledger's own (non-alias, most used) vendor name when the cluster has
    one, else the bank's merchant name, else the most paid descriptor -#}
canonical_ranked as (
    select
        component,
        coalesce(case when source = 'quickbooks' then raw_name end, merchant_name, raw_name) as vendor_name,
        normalised_name,
        currency,
        row_number() over (
            partition by component
            order by
                case when source = 'quickbooks' then 0 when merchant_name is not null then 1 else 2 end,
                payment_count desc,
                member_id
        ) as rank_in_cluster
    from with_members
),

cluster_currency as (
    select component, min(currency) as currency from with_members group by component
),

canonical as (
    select
        canonical_ranked.component,
        canonical_ranked.vendor_name,
        {{ normalise_entity_name('canonical_ranked.vendor_name') }} as canonical_normalised_name,
        cluster_currency.currency
    from canonical_ranked
    inner join cluster_currency on cluster_currency.component = canonical_ranked.component
    where canonical_ranked.rank_in_cluster = 1
),

keyed as (
    select
        canonical.*,
        row_number() over (
            partition by canonical_normalised_name, currency order by component
        ) as key_occurrence
    from canonical
),

final as (
    select
        with_members.member_id,
        with_members.source,
        with_members.source_id,
        with_members.raw_name,
        with_members.normalised_name,
        with_members.currency as member_currency,
        with_members.qbo_vendor_id,
        with_members.payment_count,
        with_members.amount_paid,
        with_members.first_seen,
        with_members.last_seen,
        {{ dbt.hash("keyed.canonical_normalised_name || '|' || coalesce(keyed.currency, '') || case when keyed.key_occurrence > 1 then '#' || " ~ as_text('keyed.key_occurrence') ~ " else '' end") }} as vendor_key,
        keyed.vendor_name,
        keyed.canonical_normalised_name,
        keyed.currency as vendor_currency
    from with_members
    inner join keyed on keyed.component = with_members.component
)

select * from final
