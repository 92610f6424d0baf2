-- previous_unrealised_gain_loss is the same item's figure at the previous month end, or 0 when the
-- item had no row then (an invoice issued during the month).
with revaluation as (
    select * from {{ ref('fx_revaluation') }}
),

expected as (
    select
        current_month.revaluation_id,
        current_month.previous_unrealised_gain_loss,
        coalesce(previous_month.unrealised_gain_loss, 0) as expected_previous
    from revaluation as current_month
    left join revaluation as previous_month
        on previous_month.item_type = current_month.item_type
        and previous_month.item_id = current_month.item_id
        and previous_month.month_end
            = cast({{ dbt.dateadd('day', '-1', dbt.date_trunc('month', 'current_month.month_end')) }} as date)
)

select *
from expected
where previous_unrealised_gain_loss <> expected_previous
