-- Per KPI: the baseline (the months before go-live), the current value (the months of the
-- measurement window after go-live that have data), the latest month's value, the target, the
-- change (current − baseline) and a status:
--   met       the current value meets the target
--   on_track  the window is still running and the current value has moved at least half-way
--             from the baseline to the target
--   at_risk   the window is still running and it has not
--   missed    the window is over and the target is not met
--   no_data   no current value yet, or a relative target without a baseline
-- An absolute target with no baseline (sync lag: nothing loaded before go-live) is met or not on
-- the current value alone; not met while the window runs, it is at_risk.
-- Months aggregate by the KPI's rule (ratio: sum of numerators / sum of denominators; mean).
{%- set go_live = var('go_live_date') %}
{%- set targets = var('kpi_targets') %}
with kpis as (
    select * from {{ ref('kpi_monthly') }}
),

definitions as (
    select * from {{ ref('kpi_definitions') }}
),

windows as (
    select
        cast({{ dbt.date_trunc('month', dbt.dateadd('day', -var('baseline_days'), "cast('" ~ go_live ~ "' as date)")) }} as date) as baseline_start,
        cast({{ dbt.date_trunc('month', "cast('" ~ go_live ~ "' as date)") }} as date) as go_live_month,
        cast({{ dbt.dateadd('day', var('measurement_days'), "cast('" ~ go_live ~ "' as date)") }} as date) as measurement_end,
        cast('{{ go_live }}' as date) as go_live_date
),

last_month as (
    select max(month) as last_month from kpis
),

latest as (
    select kpis.kpi, kpis.value as latest_value, kpis.month as latest_month
    from kpis
    inner join (select kpi, max(month) as month from kpis group by kpi) as newest
        on kpis.kpi = newest.kpi and kpis.month = newest.month
),

tagged as (
    select
        kpis.*,
        case
            when kpis.month >= windows.baseline_start and kpis.month < windows.go_live_month then 'baseline'
            when kpis.month >= windows.go_live_month and kpis.month < windows.measurement_end then 'measurement'
        end as period
    from kpis
    cross join windows
),

aggregated as (
    select
        tagged.kpi,
        tagged.period,
        case
            when max(definitions.aggregation) = 'ratio' and sum(tagged.denominator) > 0
                then sum(tagged.numerator) / sum(tagged.denominator)
            else avg(tagged.value)
        end as value,
        count(*) as months
    from tagged
    inner join definitions on tagged.kpi = definitions.kpi
    where tagged.period is not null
    group by tagged.kpi, tagged.period
),

targets as (
    select
        definitions.kpi,
        definitions.direction,
        definitions.unit,
        case definitions.kpi
            {%- for kpi, t in targets.items() %}
            when '{{ kpi }}' then '{{ t.kind }}'
            {%- endfor %}
            else definitions.default_target_kind
        end as target_kind,
        cast(case definitions.kpi
            {%- for kpi, t in targets.items() %}
            when '{{ kpi }}' then {{ t.value }}
            {%- endfor %}
            else definitions.default_target_value
        end as {{ type_double() }}) as target_value
    from definitions
),

scored as (
    select
        targets.kpi,
        targets.unit,
        targets.direction,
        baseline.value as baseline,
        current_.value as current_value,
        current_.months as measured_months,
        targets.target_kind,
        targets.target_value,
        case
            when targets.target_kind = 'relative' then baseline.value * (1 + targets.target_value)
            else targets.target_value
        end as target
    from targets
    left join aggregated as baseline on baseline.kpi = targets.kpi and baseline.period = 'baseline'
    left join aggregated as current_ on current_.kpi = targets.kpi and current_.period = 'measurement'
),

final as (
    select
        scored.kpi,
        scored.unit,
        scored.direction,
        scored.baseline,
        scored.current_value as current,
        latest.latest_value as latest,
        latest.latest_month,
        scored.target,
        scored.target_kind,
        scored.target_value,
        scored.current_value - scored.baseline as change,
        case when scored.baseline <> 0 then (scored.current_value - scored.baseline) / abs(scored.baseline) end
            as relative_change,
        scored.measured_months,
        {{ dbt.datediff('windows.go_live_date', 'last_month.last_month', 'day') }} as days_since_go_live,
        case
            when scored.current_value is null then 'no_data'
            -- a relative target needs the baseline; an absolute one (e.g. sync lag, which has no
            -- pre-go-live history to measure) is judged on the current value alone
            when scored.baseline is null and scored.target_kind = 'relative' then 'no_data'
            when (scored.direction = 'lower_is_better' and scored.current_value <= scored.target)
                or (scored.direction = 'higher_is_better' and scored.current_value >= scored.target)
                then 'met'
            when {{ dbt.dateadd('month', 1, 'last_month.last_month') }} >= windows.measurement_end then 'missed'
            when scored.baseline is null then 'at_risk'
            when scored.target <> scored.baseline
                and (scored.current_value - scored.baseline) / (scored.target - scored.baseline) >= 0.5
                then 'on_track'
            else 'at_risk'
        end as status
    from scored
    cross join windows
    cross join last_month
    left join latest on latest.kpi = scored.kpi
)

select * from final
