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

{#- The first business day (Mon–Fri) after `date_expr` (a Friday's is the Monday), as a date. -#}
{% macro next_business_day(date_expr) -%}
    cast(case cast(extract(isodow from {{ date_expr }}) as integer)
        when 5 then {{ dbt.dateadd('day', 3, date_expr) }}
        when 6 then {{ dbt.dateadd('day', 2, date_expr) }}
        else {{ dbt.dateadd('day', 1, date_expr) }}
    end as date)
{%- endmacro %}
