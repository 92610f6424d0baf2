-- A deal with a stage history is in exactly one stage it has not left, and that is its current
-- stage (dealstage). A portal whose deals use stages missing from the var `hubspot_deal_stages`
-- warns here until they are added (the var `hubspot_stage_history_severity` = 'error' makes it strict).
{{ config(severity = var('hubspot_stage_history_severity', 'warn')) }}
with deals as (
    select * from {{ ref('stg_hubspot__deals') }}
),

history as (
    select * from {{ ref('stg_hubspot__deal_stage_history') }}
),

open_stages as (
    select
        deal_id,
        count(*) as open_stages,
        max(stage) as open_stage
    from history
    where exited_at is null
    group by deal_id
),

with_history as (
    select distinct deal_id from history
)

select
    with_history.deal_id,
    deals.stage as current_stage,
    open_stages.open_stages,
    open_stages.open_stage
from with_history
inner join deals on deals.deal_id = with_history.deal_id
left join open_stages on open_stages.deal_id = with_history.deal_id
where coalesce(open_stages.open_stages, 0) <> 1
    or open_stages.open_stage <> deals.stage

