{#- Engine-specific SQL, each behind adapter.dispatch with a default and per-engine versions. -#}

{#- Unix epoch seconds (Stripe's `created`) to a UTC timestamp without time zone. -#}
{% macro epoch_to_timestamp(column) -%}
    {{ return(adapter.dispatch('epoch_to_timestamp', 'ledgerlake')(column)) }}
{%- endmacro %}

{% macro default__epoch_to_timestamp(column) -%}
    (to_timestamp({{ column }}) at time zone 'UTC')
{%- endmacro %}

{% macro duckdb__epoch_to_timestamp(column) -%}
    cast(to_timestamp({{ column }}) at time zone 'UTC' as timestamp)
{%- endmacro %}

{#- Minor units (cents) to a decimal amount, given the currency's exponent (2 for most). -#}
{% macro minor_to_major(column, currency_column) -%}
    cast(cast({{ column }} as decimal(18, 2)) / case when upper({{ currency_column }}) in
        ('BIF','CLP','DJF','GNF','JPY','KMF','KRW','MGA','PYG','RWF','UGX','VND','VUV','XAF','XOF','XPF')
        then 1 else 100 end as decimal(18, 2))
{%- endmacro %}

{#- Text aggregation in a deterministic order. -#}
{% macro string_agg_ordered(column, delimiter, order_by) -%}
    {{ return(adapter.dispatch('string_agg_ordered', 'ledgerlake')(column, delimiter, order_by)) }}
{%- endmacro %}

{% macro default__string_agg_ordered(column, delimiter, order_by) -%}
    string_agg({{ column }}, '{{ delimiter }}' order by {{ order_by }})
{%- endmacro %}

{#- A JSON/text value of any type as text. -#}
{% macro as_text(column) -%}
    cast({{ column }} as {{ dbt.type_string() }})
{%- endmacro %}

{#- Text at a path inside a JSON column; `path` is a list of keys/indexes, e.g. [0, 'name']. -#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'ledgerlake')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    (cast({{ column }} as jsonb) #>> '{ {{- path | join(",") -}} }')
{%- endmacro %}

{% macro duckdb__json_text(column, path) -%}
    {%- set parts = [] -%}
    {%- for p in path -%}
        {%- if p is number -%}{%- do parts.append('[' ~ p ~ ']') -%}{%- else -%}{%- do parts.append('.' ~ p) -%}{%- endif -%}
    {%- endfor -%}
    json_extract_string({{ column }}, '${{ parts | join("") }}')
{%- endmacro %}

{#- One row per day from `start_expr` to `end_expr` (date expressions), column `spine_date`. -#}
{% macro date_spine_between(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('date_spine_between', 'ledgerlake')(start_expr, end_expr)) }}
{%- endmacro %}

{% macro default__date_spine_between(start_expr, end_expr) -%}
    select cast(d as date) as spine_date
    from generate_series(cast({{ start_expr }} as date), cast({{ end_expr }} as date), interval '1 day') as g(d)
{%- endmacro %}

{% macro duckdb__date_spine_between(start_expr, end_expr) -%}
    select cast(d as date) as spine_date
    from generate_series(cast({{ start_expr }} as timestamp), cast({{ end_expr }} as timestamp), interval 1 day) as g(d)
{%- endmacro %}

{#- Double precision everywhere: dbt.type_float() is a 4-byte REAL on DuckDB. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'ledgerlake')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro duckdb__type_double() -%}double{%- endmacro %}

{#- A vendor/customer name reduced to its comparable core: lower case, letters and digits only,
    common legal suffixes dropped. (Entity resolution proper lives in the entities models.) -#}
{% macro normalise_vendor_name(column) -%}
    trim(regexp_replace(
        regexp_replace(lower(coalesce({{ column }}, '')), '[^a-z0-9 ]', ' ', 'g'),
        ' (inc|llc|ltd|gmbh|sarl|bv|co|corp|company|limited|plc)( |$)', ' ', 'g'))
{%- endmacro %}

{#- An amount rounded to the cent as decimal(18,2), from any numeric expression (PostgreSQL has no
    round(double precision, int), so the value goes through numeric first). -#}
{% macro round_money(expression) -%}
    cast(round(cast({{ expression }} as decimal(28, 8)), 2) as decimal(18, 2))
{%- endmacro %}
