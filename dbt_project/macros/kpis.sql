{#- A daily KPI model (day, kpi, value, numerator, denominator) summed into months: a ratio is
    Σ numerators / Σ denominators, a count or an amount (no denominator) is Σ numerators. So a
    month's value is the same as if it had been computed from the month's records at once. -#}
{% macro kpis_by_month(daily) -%}
    select
        cast({{ dbt.date_trunc('month', 'day') }} as date) as month,
        kpi,
        case
            when sum(denominator) is null then sum(numerator)
            else sum(numerator) / nullif(sum(denominator), 0)
        end as value,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from {{ daily }}
    group by 1, 2
{%- endmacro %}
