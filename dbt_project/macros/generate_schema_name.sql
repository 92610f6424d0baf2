{#- Models go to the schema their folder names (staging, intermediate, marts), on every target,
    so analysts find `marts.fct_payments` on DuckDB and PostgreSQL alike. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
