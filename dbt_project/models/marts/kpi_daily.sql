-- The integration KPIs that make sense per day (the reconciliation KPIs by day of booking, sync lag
-- by day of the load): the same definitions kpi_monthly sums into months, so a month of kpi_daily
-- adds up to kpi_monthly. KPIs of documents and closes (manual entry, invoice errors, close
-- duration, duplicates, time to invoice, audit trail) are monthly only.
with measured as (
    select *, 'int_kpis_reconciliation_daily' as source_model from {{ ref('int_kpis_reconciliation_daily') }}
    union all
    select *, 'int_kpis_sync_daily' as source_model from {{ ref('int_kpis_sync_daily') }}
),

definitions as (
    select * from {{ ref('kpi_definitions') }}
),

final as (
    select
        measured.day,
        measured.kpi,
        cast(measured.value as {{ type_double() }}) as value,
        measured.numerator,
        measured.denominator,
        definitions.unit,
        definitions.direction,
        measured.source_model as source_models
    from measured
    inner join definitions on measured.kpi = definitions.kpi
)

select * from final
