-- Sync KPIs per day of the load (day, kpi, value, numerator, denominator; kpi_monthly sums the
-- days into months):
--   sync_lag_hours  Σ hours from a record's change at its source to the load that read it / records,
--                   over the records that changed since the previous successful load of their
--                   object, both times on the source's own clock (ingestion.runner measures it per
--                   load; a first load, a backfill, measures nothing). Day of the load's source clock.
with runs as (
    select * from {{ ref('stg_ledgerlake__load_runs') }}
    where status = 'ok' and changed_records > 0 and source_clock_at is not null
),

daily as (
    select
        cast(source_clock_at as date) as day,
        sum(lag_hours_sum) as lag_hours,
        sum(changed_records) as records
    from runs
    group by 1
),

final as (
    select
        day,
        'sync_lag_hours' as kpi,
        cast(lag_hours as {{ type_double() }}) / records as value,
        cast(lag_hours as {{ type_double() }}) as numerator,
        cast(records as {{ type_double() }}) as denominator
    from daily
)

select * from final
