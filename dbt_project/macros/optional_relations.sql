{#- Raw tables appear only once their source has loaded something. These macros let a model
    read a raw table that may not exist yet: it then reads an empty, correctly typed relation. -#}

{% macro raw_relation(schema, table) -%}
    {%- if execute -%}
        {%- set rel = adapter.get_relation(database=target.database, schema=schema, identifier=table) -%}
        {{ return(rel) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{#- Union the `quarantine` table of every raw schema that has one. dlt's merge keeps a
    `<dataset>_staging` schema with a copy of the last load's rows: that is dlt's scratch space, never
    data, so it is left out (`raw_x_staging.quarantine` would repeat every row of `raw_x.quarantine`). -#}
{% macro union_quarantine_tables() -%}
    {%- set relations = [] -%}
    {%- if execute -%}
        {%- set schemas_sql -%}
            select distinct table_schema from information_schema.tables
            where table_name = 'quarantine'
              and table_schema like 'raw\_%' escape '\'
              and table_schema not like '%\_staging' escape '\'
            order by table_schema
        {%- endset -%}
        {%- for row in run_query(schemas_sql).rows -%}
            {%- do relations.append(adapter.get_relation(database=target.database, schema=row[0], identifier='quarantine')) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if relations | length == 0 %}
    select
        cast(null as {{ dbt.type_string() }}) as quarantine_id,
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as object,
        cast(null as {{ dbt.type_string() }}) as record_ref,
        cast(null as {{ dbt.type_string() }}) as reason,
        cast(null as {{ dbt.type_string() }}) as raw,
        cast(null as {{ dbt.type_timestamp() }}) as loaded_at,
        cast(null as {{ dbt.type_string() }}) as raw_schema
    where 1 = 0
    {%- else -%}
    {%- for rel in relations %}
    select
        cast(quarantine_id as {{ dbt.type_string() }}) as quarantine_id,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(object as {{ dbt.type_string() }}) as object,
        cast(record_ref as {{ dbt.type_string() }}) as record_ref,
        cast(reason as {{ dbt.type_string() }}) as reason,
        cast(raw as {{ dbt.type_string() }}) as raw,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at,
        cast('{{ rel.schema }}' as {{ dbt.type_string() }}) as raw_schema
    from {{ rel }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- `select * from` a raw table when it exists, else an empty relation with the given columns
    ({name: type}), so staging builds before a source has ever loaded. -#}
{% macro optional_raw(schema, table, columns) -%}
    {%- set rel = raw_relation(schema, table) -%}
    {%- if rel is not none -%}
    select * from {{ rel }}
    {%- else -%}
    select
    {%- for name, type in columns.items() %}
        cast(null as {{ type }}) as {{ name }}{% if not loop.last %},{% endif %}
    {%- endfor %}
    where 1 = 0
    {%- endif -%}
{%- endmacro %}

{#- The lower-cased column names of a raw table (empty when it does not exist yet), for
    optional_column. -#}
{% macro raw_column_names(schema, table) -%}
    {%- set names = [] -%}
    {%- set rel = raw_relation(schema, table) -%}
    {%- if rel is not none -%}
        {%- for col in adapter.get_columns_in_relation(rel) %}{% do names.append(col.name | lower) %}{% endfor -%}
    {%- endif -%}
    {{ return(names) }}
{%- endmacro %}

{#- A column of a raw table that older loads may not have written yet: cast to `type`, or
    `default` when `present` (the table's lower-cased column names) lacks it. -#}
{% macro optional_column(present, column, type, default='null') -%}
    {%- if column in present %}cast({{ column }} as {{ type }}){% else %}cast({{ default }} as {{ type }}){% endif %}
{%- endmacro %}
