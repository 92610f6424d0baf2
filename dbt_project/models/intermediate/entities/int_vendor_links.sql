-- Candidate pairs of vendor names and the evidence for (or against) them being one vendor.
-- Blocking: two names are compared when they share a token or a merchant name. Rules, best first:
--   exact_name        the normalised names are equal                                  score 1.00
--   merchant_name     the bank's merchant name (Plaid merchant_name / statement
--                     counterparty) equals the other side's name or merchant name      score 0.95
--   token_containment same first word and every word of the shorter name is in the
--                     longer one ("delta air" < "delta air lines atlanta"), when the
--                     shorter name is contained in only one distinct longer name        0.5 + 0.5 * jaccard
-- Identity name = the merchant name when the bank gives one (var entity_use_merchant_names, default
-- true; false measures the text rules alone), else the normalised text.
-- A pair is accepted when a rule fires and the currencies do not contradict each other.
-- Names that agree on all of that are compared once (see `signatures`).
-- Grain: one unordered pair (member_a < member_b), accepted or not.
{%- set use_merchant = var('entity_use_merchant_names', true) %}
with normalised as (
    select * from {{ ref('int_vendor_names_normalised') }}
),

{#- identity_name: what the name rules compare; the bank's merchant name when it has one
    ("POSTAGE 1H2VE1" paid to ROYAL MAIL is Royal Mail), else the normalised text. merchant_key:
    what a member offers to the merchant rule: its merchant name, or (QBO) its own name -#}
members as (
    select
        normalised.*,
        {% if use_merchant -%}
        coalesce(normalised_merchant_name, normalised_name)
        {%- else -%}
        normalised_name
        {%- endif %} as identity_name,
        {% if use_merchant -%}
        coalesce(normalised_merchant_name, case when not is_descriptor then normalised_name end)
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as merchant_key
    from normalised
),

{#- Members that agree on everything the rules read (the 60 "UBER *TRIP xxxx") are one
    signature: compared once through a representative, each tied to it by a star of exact_name
    links, so the pairs grow with distinct names, not with descriptors squared. -#}
signatures as (
    select
        identity_name,
        normalised_name,
        coalesce(currency, '') as currency_signature,
        coalesce(merchant_key, '') as merchant_signature,
        min(member_id) as representative
    from members
    group by 1, 2, 3, 4
),

representatives as (
    select members.*
    from members
    inner join signatures on signatures.representative = members.member_id
),

star_pairs as (
    select
        signatures.representative as member_a,
        members.member_id as member_b
    from members
    inner join signatures
        on signatures.identity_name = members.identity_name
        and signatures.normalised_name = members.normalised_name
        and signatures.currency_signature = coalesce(members.currency, '')
        and signatures.merchant_signature = coalesce(members.merchant_key, '')
    where members.member_id <> signatures.representative
),

positions as (
    {%- for n in range(1, 13) %}
    select {{ n }} as position{% if not loop.last %} union all{% endif %}
    {%- endfor %}
),

tokens as (
    select distinct
        members.member_id,
        split_part(members.identity_name, ' ', cast(positions.position as integer)) as token
    from members
    cross join positions
    where positions.position <= {{ dbt.length('members.identity_name') }}
        - {{ dbt.length("replace(members.identity_name, ' ', '')") }} + 1
),

token_counts as (
    select member_id, count(*) as n_tokens from tokens group by member_id
),

merchant_keys as (
    select member_id, merchant_key from members
),

representative_tokens as (
    select tokens.*
    from tokens
    inner join representatives on representatives.member_id = tokens.member_id
),

shared_tokens as (
    select a.member_id as member_a, b.member_id as member_b, count(*) as n_shared
    from representative_tokens as a
    inner join representative_tokens as b on a.token = b.token and a.member_id < b.member_id
    group by 1, 2
),

merchant_pairs as (
    select a.member_id as member_a, b.member_id as member_b
    from representatives as a
    inner join representatives as b on a.merchant_key = b.merchant_key and a.member_id < b.member_id
),

candidates as (
    select member_a, member_b from shared_tokens
    union
    select member_a, member_b from merchant_pairs
    union
    select
        case when member_a < member_b then member_a else member_b end,
        case when member_a < member_b then member_b else member_a end
    from star_pairs
),

scored as (
    select
        candidates.member_a,
        candidates.member_b,
        a.source as source_a,
        b.source as source_b,
        a.raw_name as name_a,
        b.raw_name as name_b,
        a.normalised_name as normalised_a,
        b.normalised_name as normalised_b,
        a.identity_name as identity_a,
        b.identity_name as identity_b,
        a.currency as currency_a,
        b.currency as currency_b,
        coalesce(shared_tokens.n_shared, case when a.identity_name = b.identity_name then ca.n_tokens else 0 end) as n_shared,
        ca.n_tokens as n_tokens_a,
        cb.n_tokens as n_tokens_b,
        ma.merchant_key = mb.merchant_key as same_merchant,
        split_part(a.identity_name, ' ', 1) = split_part(b.identity_name, ' ', 1) as same_first_token
    from candidates
    inner join members as a on a.member_id = candidates.member_a
    inner join members as b on b.member_id = candidates.member_b
    inner join token_counts as ca on ca.member_id = candidates.member_a
    inner join token_counts as cb on cb.member_id = candidates.member_b
    inner join merchant_keys as ma on ma.member_id = candidates.member_a
    inner join merchant_keys as mb on mb.member_id = candidates.member_b
    left join shared_tokens
        on shared_tokens.member_a = candidates.member_a and shared_tokens.member_b = candidates.member_b
),

measured as (
    select
        scored.*,
        cast(n_shared as {{ type_double() }}) / (n_tokens_a + n_tokens_b - n_shared) as token_jaccard,
        cast(n_shared as {{ type_double() }}) / least(n_tokens_a, n_tokens_b) as token_overlap,
        case when n_tokens_a <= n_tokens_b then identity_a else identity_b end as shorter_name,
        case when n_tokens_a <= n_tokens_b then identity_b else identity_a end as longer_name,
        case when n_tokens_a <= n_tokens_b then currency_a else currency_b end as shorter_currency
    from scored
),

containments as (
    select * from measured
    where same_first_token and token_overlap = 1 and identity_a <> identity_b
),

{#- "amazon" inside both "amazon web services" and "amazon marketplace" proves nothing; "delta air"
    inside "delta air lines" and "delta air lines atlanta" does: the longer names continue the
    shorter one with the same next word -#}
ambiguity as (
    select
        shorter_name,
        shorter_currency,
        count(distinct split_part(longer_name, ' ', cast(least(n_tokens_a, n_tokens_b) + 1 as integer))) as n_longer_names
    from containments
    group by 1, 2
),

ruled as (
    select
        measured.*,
        case
            when measured.normalised_a = measured.normalised_b then 'exact_name'
            when measured.same_merchant or measured.identity_a = measured.identity_b then 'merchant_name'
            when measured.same_first_token and measured.token_overlap = 1 and ambiguity.n_longer_names = 1
                then 'token_containment'
        end as rule
    from measured
    left join ambiguity
        on ambiguity.shorter_name = measured.shorter_name
        and coalesce(ambiguity.shorter_currency, '') = coalesce(measured.shorter_currency, '')
),

final as (
    select
        {{ dbt.hash("member_a || '|' || member_b") }} as link_id,
        member_a,
        member_b,
        source_a,
        source_b,
        name_a,
        name_b,
        normalised_a,
        normalised_b,
        identity_a,
        identity_b,
        currency_a,
        currency_b,
        coalesce(rule, 'none') as rule,
        cast(case rule
            when 'exact_name' then 1.0
            when 'merchant_name' then 0.95
            when 'token_containment' then 0.5 + 0.5 * token_jaccard
            else token_jaccard
        end as {{ type_double() }}) as score,
        token_jaccard,
        token_overlap,
        n_shared as shared_tokens,
        rule is not null
            and (currency_a is null or currency_b is null or currency_a = currency_b) as is_accepted,
        case
            when rule is null then 'no rule fired'
            when currency_a <> currency_b then 'paid in different currencies'
        end as rejected_because
    from ruled
)

select * from final
