{{ config(materialized='table') }}
-- One row per run, source and object: seen = loaded + quarantined + duplicates.
{%- set rel = raw_relation('raw_ledgerlake', 'load_runs') %}
with runs as (
    {%- if rel is not none %}
    select * from {{ rel }}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as run_id,
        cast(null as {{ dbt.type_timestamp() }}) as started_at,
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as object,
        cast(null as {{ dbt.type_bigint() }}) as seen,
        cast(null as {{ dbt.type_bigint() }}) as loaded,
        cast(null as {{ dbt.type_bigint() }}) as quarantined,
        cast(null as {{ dbt.type_bigint() }}) as duplicates,
        cast(null as {{ type_double() }}) as seconds,
        cast(null as {{ dbt.type_string() }}) as status,
        cast(null as {{ dbt.type_string() }}) as error
    where 1 = 0
    {%- endif %}
),

final as (
    select
        run_id,
        started_at,
        source,
        object,
        seen,
        loaded,
        quarantined,
        duplicates,
        seen - loaded - quarantined - duplicates as unaccounted,
        seconds,
        status,
        error
    from runs
)

select * from final
