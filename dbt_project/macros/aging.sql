{#- Aging bucket of an open item by days past due at `as_of_expr`. -#}
{% macro aging_bucket(due_date, as_of_expr) -%}
    case
        when {{ dbt.datediff(due_date, as_of_expr, 'day') }} <= 0 then 'current'
        when {{ dbt.datediff(due_date, as_of_expr, 'day') }} <= 30 then '1-30'
        when {{ dbt.datediff(due_date, as_of_expr, 'day') }} <= 60 then '31-60'
        when {{ dbt.datediff(due_date, as_of_expr, 'day') }} <= 90 then '61-90'
        else '90+'
    end
{%- endmacro %}
