-- Every stage each HubSpot deal has entered, with when it entered and left it, and how the deal
-- ended (from fct_deals): the company's own history of which stages end won, which the cash
-- forecast calibrates its pipeline probabilities on.
with history as (
    select * from {{ ref('stg_hubspot__deal_stage_history') }}
),

deals as (
    select deal_id, is_closed, is_won from {{ ref('fct_deals') }}
),

final as (
    select
        {{ dbt.concat(['history.deal_id', "':'", 'history.stage']) }} as deal_stage_id,
        history.deal_id,
        history.stage,
        history.stage_order,
        history.entered_at,
        history.exited_at,
        history.stage in ('closedwon', 'closedlost') as is_closing_stage,
        deals.is_closed as deal_is_closed,
        deals.is_won as deal_is_won
    from history
    inner join deals on deals.deal_id = history.deal_id
)

select * from final
