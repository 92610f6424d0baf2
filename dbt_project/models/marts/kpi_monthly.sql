-- Every integration KPI per month: one definition each in an int_kpis_* model (and a paragraph
-- in docs/decisions.md); KPIs defined per day are summed into months (macro kpis_by_month). The
-- app reads this; it never recomputes a KPI.
with measured as (
    select *, 'int_kpis_reconciliation_daily' as source_model
    from ({{ kpis_by_month(ref('int_kpis_reconciliation_daily')) }}) as reconciliation
    union all
    select *, 'int_kpis_ledger' as source_model from {{ ref('int_kpis_ledger') }}
    union all
    select *, 'int_kpis_crm' as source_model from {{ ref('int_kpis_crm') }}
    union all
    select *, 'int_kpis_sync_daily' as source_model
    from ({{ kpis_by_month(ref('int_kpis_sync_daily')) }}) as sync
),

definitions as (
    select * from {{ ref('kpi_definitions') }}
),

final as (
    select
        measured.month,
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
