-- A deal's stage history in long format, one row per deal and stage it has entered, from HubSpot's
-- deal properties `hs_v2_date_entered_<stage id>` / `hs_v2_date_exited_<stage id>` (the stages of
-- the var `hubspot_deal_stages`, default: HubSpot's default sales pipeline, in pipeline order).
-- HubSpot keeps the latest entry and the latest exit of each stage: an exit before the entry means
-- the deal came back to that stage and is still in it, so `exited_at` is null there, as it is for
-- the stage the deal is in now. Columns no deal has filled yet (a stage nobody has left) read as null.
{%- set stages = var('hubspot_deal_stages', [
    'appointmentscheduled', 'qualifiedtobuy', 'presentationscheduled', 'decisionmakerboughtin',
    'contractsent', 'closedwon', 'closedlost',
]) %}
{%- set present = raw_column_names('raw_hubspot', 'deals') %}
with deals as (
    {{ optional_raw('raw_hubspot', 'deals', {'id': dbt.type_string(), 'archived': 'boolean'}) }}
),

live as (
    select * from deals
    where coalesce(archived, false) = false
),

stage_dates as (
    {%- for stage in stages %}
    select
        {{ as_text('id') }} as deal_id,
        cast('{{ stage }}' as {{ dbt.type_string() }}) as stage,
        {{ loop.index }} as stage_order,
        ({{ optional_column(present, 'properties__hs_v2_date_entered_' ~ stage, 'timestamp with time zone') }} at time zone 'UTC') as entered_at,
        ({{ optional_column(present, 'properties__hs_v2_date_exited_' ~ stage, 'timestamp with time zone') }} at time zone 'UTC') as exited_at
    from live
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

final as (
    select
        deal_id,
        stage,
        stage_order,
        entered_at,
        case when exited_at >= entered_at then exited_at end as exited_at
    from stage_dates
    where entered_at is not null
)

select * from final
