{#- Entity resolution: name normalisation for vendors and customers (see docs/decisions.md,
    "Entity resolution"). Every macro returns a SQL expression; the regular expressions are the
    subset that RE2 (DuckDB) and PostgreSQL's ARE agree on (no \b, no lookaround), so one pattern
    list serves both engines. Backslashes are doubled because Jinja unescapes string literals. -#}

{#- Replace every match of a regular expression. -#}
{% macro regexp_replace_all(expr, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'ledgerlake')(expr, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{#- Legal-form and filler words dropped from vendor names ("WeWork Companies LLC" = "WeWork"). -#}
{% macro entity_legal_suffixes() -%}
    {{ return(['inc', 'incorporated', 'llc', 'llp', 'lp', 'ltd', 'limited', 'gmbh', 'ag', 'sarl', 'sas',
               'sa', 'bv', 'nv', 'co', 'corp', 'corporation', 'company', 'companies', 'plc', 'pty',
               'and', 'the', 'of']) }}
{%- endmacro %}

{#- Card/bank descriptor words that describe the payment, not the payee ("GUSTO TAX", "UBER TRIP"). -#}
{% macro entity_descriptor_noise_words() -%}
    {{ return(['payroll', 'net pay', 'tax', 'trip', 'help', 'bill', 'pos', 'purchase', 'debit', 'card',
               'payment', 'pmt', 'ach', 'online', 'recurring', 'ref']) }}
{%- endmacro %}

{#- Known descriptor stems, applied to the space-padded, punctuation-free name in order:
    (pattern, replacement). Granularity follows the sandbox truth: AWS and Amazon's retail
    marketplace are different vendors, so "aws" never becomes "amazon". -#}
{% macro entity_descriptor_stems() -%}
    {{ return([
        (' amzn mktp us ', ' amazon marketplace '),
        (' amzn mktp ', ' amazon marketplace '),
        (' amzn ', ' amazon '),
        (' mktp ', ' marketplace '),
        (' aws ', ' amazon web services '),
        ('^ amazon $', ' amazon marketplace '),
        ('^ amazon com $', ' amazon marketplace '),
        ('^ (monthly service fee|account analysis fee|account fee|kontofuehrungsgebuehr|service charge|maintenance fee)( |$)', ' bank fees '),
    ]) }}
{%- endmacro %}

{#- Card processors and payment facilitators whose name leads a card descriptor, the merchant
    following the '*': "SQ *BLUE BOTTLE" (Square), "TST* JOES PIZZA" (Toast), "PAYPAL *NOTION",
    "PP*NOTION" (PayPal), "SP * SHOPNAME" (Shopify), "IZ *CAFE" (iZettle), "SUMUP *CAFE". -#}
{% macro entity_descriptor_facilitators() -%}
    {{ return(['sq', 'tst', 'paypal', 'pp', 'sp', 'iz', 'sumup']) }}
{%- endmacro %}

{#- Latin letters with diacritics folded to their base letter (é -> e, Ø -> O, ß -> ss, æ -> ae),
    upper and lower case alike: PostgreSQL's lower() leaves non-ASCII letters alone under the C
    locale, and the later [^a-z0-9] step would otherwise split "Müller" into "m ller".
    translate() and replace() are portable; DuckDB's strip_accents and PostgreSQL's unaccent are not. -#}
{% macro fold_accents(expr) -%}
    translate(
        replace(replace(replace(replace(replace(replace(replace({{ expr }},
            'ß', 'ss'), 'Æ', 'AE'), 'æ', 'ae'), 'Œ', 'OE'), 'œ', 'oe'), 'Þ', 'TH'), 'þ', 'th'),
        'ÀÁÂÃÄÅàáâãäåĀāĂăĄąÇçĆćČčĎďĐđÈÉÊËèéêëĒēĖėĘęĚěÌÍÎÏìíîïĪīĮįıÑñŃńŇňÒÓÔÕÖØòóôõöøŌōŐőŘřŚśŠšŞşŢţŤťÙÚÛÜùúûüŪūŮůŰűÝýÿŸŹźŻżŽžŁł',
        'AAAAAAaaaaaaAaAaAaCcCcCcDdDdEEEEeeeeEeEeEeEeIIIIiiiiIiIiiNnNnNnOOOOOOooooooOoOoRrSsSsSsTtTtUUUUuuuuUuUuUuYyyYZzZzZzLl'
    )
{%- endmacro %}

{#- The normalised name: accents folded, lower case; for bank descriptors the merchant part
    before '*' (after it when a payment facilitator leads: "SQ *BLUE BOTTLE" -> blue bottle) and
    no reference tokens (any token with a digit); web addresses reduced to their brand label;
    dotted abbreviations joined (S.A. -> sa, L.L.C. -> llc); punctuation, parenthesised
    qualifiers, legal suffixes and descriptor noise words removed; known stems mapped. Null for
    null, empty or punctuation-only input; never empty when the input had letters or digits. -#}
{% macro normalise_entity_name(expr, is_descriptor=false, strip_legal=true) -%}
    {%- set ns = namespace(s="lower(" ~ fold_accents("coalesce(cast(" ~ expr ~ " as " ~ dbt.type_string() ~ "), '')") ~ ")") -%}
    {%- if is_descriptor -%}
        {#- SQ *BLUE BOTTLE 1234 -> blue bottle 1234 ; PAYPAL *NOTION -> notion -#}
        {%- set ns.s = regexp_replace_all(ns.s, '^ *(' ~ entity_descriptor_facilitators() | join('|') ~ ') *\\* *', '') -%}
        {#- AMZN MKTP US*2K4 -> amzn mktp us ; UBER *TRIP 0JNJ -> uber -#}
        {%- set ns.s = regexp_replace_all(ns.s, '^([^*]*[a-z][^*]*)\\*.*$', '\\1') -%}
    {%- endif -%}
    {#- (EUR), (OPERATING_USD): qualifiers, read separately by entity_name_currency -#}
    {%- set ns.s = regexp_replace_all(ns.s, '\\([^)]*\\)', ' ') -%}
    {#- a leading web address keeps its brand label: aws.amazon.com -> aws, amazon.com -> amazon -#}
    {%- set ns.s = regexp_replace_all(ns.s, '^ *(www\\.)?([a-z0-9-]+)\\.[a-z0-9.-]*(com|co|net|org|de|io|uk)(/[^ ]*)?([^a-z0-9]|$)', '\\2 ') -%}
    {#- any later web address is a support URL: dropped -#}
    {%- set ns.s = regexp_replace_all(ns.s, ' [a-z0-9-]+(\\.[a-z0-9-]+)*\\.(com|co|net|org|de|io|uk)(/[^ ]*)?', ' ') -%}
    {#- dotted abbreviations, pairwise: s.a. -> sa, l.l.c. -> llc, s.a.r.l. -> sarl, j.p. -> jp -#}
    {%- set ns.s = regexp_replace_all(ns.s, '([a-z])\\.([a-z])\\.', '\\1\\2') -%}
    {%- set ns.s = "replace(replace(" ~ ns.s ~ ", '''', ''), '&', ' and ')" -%}
    {%- set ns.s = regexp_replace_all(ns.s, '[^a-z0-9]+', ' ') -%}
    {%- set cleaned = "trim(" ~ ns.s ~ ")" -%}
    {%- set ns.s = "' ' || " ~ cleaned ~ " || ' '" -%}
    {%- if is_descriptor -%}
        {#- reference tokens: anything with a digit (5QBX, 2K4, T04RK9, 2025Q2) -#}
        {%- for _ in range(2) -%}
            {%- set ns.s = regexp_replace_all(ns.s, ' [a-z]*[0-9][a-z0-9]* ', ' ') -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if strip_legal -%}
        {%- for _ in range(2) -%}
            {%- set ns.s = regexp_replace_all(ns.s, ' (' ~ entity_legal_suffixes() | join('|') ~ ') ', ' ') -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for pattern, replacement in entity_descriptor_stems() -%}
        {%- set ns.s = regexp_replace_all(ns.s, pattern, replacement) -%}
    {%- endfor -%}
    {%- if is_descriptor -%}
        {#- noise words only after the first token: "TAX REFUND CO" keeps its name -#}
        {%- for _ in range(2) -%}
            {%- set ns.s = regexp_replace_all(ns.s, '^( [a-z0-9]+.*) (' ~ entity_descriptor_noise_words() | join('|') ~ ') ', '\\1 ') -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set ns.s = regexp_replace_all(ns.s, ' +', ' ') -%}
    coalesce(nullif(trim({{ ns.s }}), ''), nullif({{ cleaned }}, ''))
{%- endmacro %}

{#- A currency qualifier written into a name, as QuickBooks users tell two accounts of one vendor
    apart: "First Harbor Bank (EUR)", "Amazon Web Services (OPERATING_USD)". Null when none. -#}
{% macro entity_name_currency(expr) -%}
    case
        {%- for code in ['EUR', 'USD', 'GBP', 'CHF'] %}
        when upper({{ expr }}) like '%(%{{ code }}%)%' then '{{ code }}'
        {%- endfor %}
    end
{%- endmacro %}

{#- An email address, lower case and trimmed; null when it has no '@'. -#}
{% macro normalise_email(expr) -%}
    case when {{ expr }} like '%_@_%' then lower(trim({{ expr }})) end
{%- endmacro %}

{#- The host of an email address or web domain without www.; null for mailbox providers and
    documentation domains that many unrelated parties share. -#}
{% macro entity_domain(expr) -%}
    {%- set host = regexp_replace_all(regexp_replace_all("lower(trim(" ~ expr ~ "))", '^.*@', ''),
                                      '^(https?://)?(www\\.)?([^/]+).*$', '\\3') -%}
    case when {{ host }} not in ('example.com', 'example.org', 'example.net', 'gmail.com', 'googlemail.com',
        'yahoo.com', 'hotmail.com', 'outlook.com', 'icloud.com', 'aol.com', 'gmx.de', 'web.de', 'proton.me')
        and {{ host }} like '%_.__%' then {{ host }} end
{%- endmacro %}

{#- Letters and digits only, lower case, accents folded: HubSpot derives company domains this way ("Davis LLC" ->
    davisllc.com), so it compares a domain's first label with a company name. -#}
{% macro entity_slug(expr) -%}
    {{ regexp_replace_all("lower(" ~ fold_accents("coalesce(" ~ expr ~ ", '')") ~ ")", '[^a-z0-9]+', '') }}
{%- endmacro %}

{#- Connected components of an undirected graph, portable (a recursive CTE, `union` so it stops):
    every node starts with its own id as a label and labels spread along edges to larger nodes;
    emits CTEs `<prefix>_edges`, `<prefix>_reach` and `<prefix>_components (node, component)`,
    component = the smallest node id reachable. `nodes_sql`/`edges_sql` are selects returning
    `node` resp. `a, b`. Use inside `with recursive`. -#}
{% macro connected_components(prefix, nodes_sql, edges_sql) -%}
{{ prefix }}_edges as (
    select a, b from ({{ edges_sql }}) as e1
    union
    select b, a from ({{ edges_sql }}) as e2
),

{{ prefix }}_reach (node, root) as (
    select node, node from ({{ nodes_sql }}) as n
    union
    select e.b, r.root
    from {{ prefix }}_reach as r
    inner join {{ prefix }}_edges as e on e.a = r.node
    {# a label only travels to larger nodes: the component's smallest id still reaches every
       node, and a star around its smallest member costs n rows, not n squared #}
    where e.b > r.root
),

{{ prefix }}_components as (
    select node, min(root) as component from {{ prefix }}_reach group by node
)
{%- endmacro %}
