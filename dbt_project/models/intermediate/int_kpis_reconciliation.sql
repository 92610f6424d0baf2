-- Reconciliation KPIs per month of booking: auto-match rate and the unreconciled bank lines.
with lines as (
    select * from {{ ref('fct_bank_transactions') }}
),

matches as (
    select bank_transaction_id as record_id from {{ ref('reconciliation_matches') }}
    union
    select counterpart_id as record_id from {{ ref('reconciliation_matches') }}
),

rates as (
    select * from {{ ref('fx_rates_daily') }}
),

flagged as (
    select
        cast({{ dbt.date_trunc('month', 'lines.booking_date') }} as date) as month,
        case when matches.record_id is not null then 1 else 0 end as is_matched,
        abs(lines.amount) * coalesce(rates.rate_to_functional, 1.0) as amount_functional
    from lines
    left join matches on lines.bank_transaction_id = matches.record_id
    left join rates on rates.rate_date = lines.booking_date and rates.currency = lines.currency
),

monthly as (
    select
        month,
        count(*) as lines,
        sum(is_matched) as matched,
        sum(case when is_matched = 0 then 1 else 0 end) as unmatched,
        sum(case when is_matched = 0 then amount_functional else 0 end) as unmatched_value
    from flagged
    group by month
),

final as (
    select month, 'auto_match_rate' as kpi, cast(matched as {{ type_double() }}) / lines as value,
        cast(matched as {{ type_double() }}) as numerator, cast(lines as {{ type_double() }}) as denominator
    from monthly
    union all
    select month, 'unreconciled_items_count', cast(unmatched as {{ type_double() }}),
        cast(unmatched as {{ type_double() }}), cast(null as {{ type_double() }})
    from monthly
    union all
    select month, 'unreconciled_items_value', cast(unmatched_value as {{ type_double() }}),
        cast(unmatched_value as {{ type_double() }}), cast(null as {{ type_double() }})
    from monthly
)

select * from final
