-- The ingestion's own record of its loads (raw_ledgerlake.load_runs, one writer: ingestion.runner):
-- per run, source and object the counts and, on the source's clock, the sync lag of the load.
-- Columns a warehouse written before sync lag was measured lacks read as null / 0.
{%- set present = raw_column_names('raw_ledgerlake', 'load_runs') %}
with runs as (
    {{ optional_raw('raw_ledgerlake', 'load_runs', {
        'run_id': dbt.type_string(), 'started_at': dbt.type_timestamp(), 'source': dbt.type_string(),
        'object': dbt.type_string(), 'seen': dbt.type_bigint(), 'loaded': dbt.type_bigint(),
        'quarantined': dbt.type_bigint(), 'duplicates': dbt.type_bigint(), 'seconds': type_double(),
        'status': dbt.type_string(), 'error': dbt.type_string()
    }) }}
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
