{{ config(materialized='table') }}
-- One row per run, source and object: seen = loaded + quarantined + duplicates, and the sync lag.
with runs as (
    select * from {{ ref('stg_ledgerlake__load_runs') }}
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
        error,
        source_clock_at,
        changed_records,
        lag_hours_sum,
        lag_hours_max
    from runs
)

select * from final
