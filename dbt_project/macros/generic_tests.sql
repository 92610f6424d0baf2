{#- Generic tests we need without downloading packages (dbt deps has no hub here). -#}

{% test dbt_utils_free_unique_combination(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as n
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}

{#- Two amount columns agree within a tolerance. -#}
{% test amounts_agree(model, column_name, other_column, tolerance=0.01) %}
    select *
    from {{ model }}
    where abs(coalesce({{ column_name }}, 0) - coalesce({{ other_column }}, 0)) > {{ tolerance }}
{% endtest %}
