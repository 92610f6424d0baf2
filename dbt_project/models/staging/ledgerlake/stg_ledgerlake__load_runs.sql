-- The ingestion's own record of its loads (raw_ledgerlake.load_runs, one writer: ingestion.runner):
-- per run, source and object the counts and, on the source's clock, the sync lag of the load.
-- Columns a warehouse written before sync lag was measured lacks read as null / 0.
{%- set rel = raw_relation('raw_ledgerlake', 'load_runs') %}
{%- set present = [] %}
{%- if rel is not none %}
    {%- for col in adapter.get_columns_in_relation(rel) %}{% do present.append(col.name | lower) %}{% endfor %}
{%- endif %}
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
        seconds,
        status,
        error,
        -- the UTC wall time of the source's clock, whatever the session's time zone (days and months
        -- of sync lag must not move with the machine's or the server's TimeZone setting)
        {%- if 'source_clock_at' in present %}
        cast((source_clock_at at time zone 'UTC') as {{ dbt.type_timestamp() }}) as source_clock_at,
        {%- else %}
        cast(null as {{ dbt.type_timestamp() }}) as source_clock_at,
        {%- endif %}
        {{ optional_column(present, 'changed', dbt.type_bigint(), '0') }} as changed_records,
        {{ optional_column(present, 'lag_hours_sum', type_double(), '0') }} as lag_hours_sum,
        {{ optional_column(present, 'lag_hours_max', type_double()) }} as lag_hours_max
    from runs
)

select * from final
