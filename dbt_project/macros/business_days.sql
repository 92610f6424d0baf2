{#- Business days (Mon–Fri) after `start_expr` up to and including `end_expr` (dates); 0 when end <= start. -#}
{% macro business_days_between(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('business_days_between', 'ledgerlake')(start_expr, end_expr)) }}
{%- endmacro %}

{% macro default__business_days_between(start_expr, end_expr) -%}
    (select count(*) from generate_series(
        cast({{ start_expr }} as date) + 1, cast({{ end_expr }} as date), interval '1 day') as g(d)
     where extract(isodow from d) < 6)
{%- endmacro %}

{% macro duckdb__business_days_between(start_expr, end_expr) -%}
    (select count(*) from generate_series(
        cast({{ start_expr }} as timestamp) + interval 1 day, cast({{ end_expr }} as timestamp), interval 1 day) as g(d)
     where isodow(d) < 6)
{%- endmacro %}
