-- Reconciliation KPIs per day of booking: auto-match rate, the unreconciled bank lines, and the
-- continuous close share (bank lines whose ledger posting existed within one business day of the
-- booking: reconciled as they happen rather than at month end). The definition of these KPIs:
-- kpi_monthly sums numerators and denominators of the days into months (kpis_by_month).
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
        lines.booking_date as day,
        case when matches.record_id is not null then 1 else 0 end as is_matched,
        abs(lines.amount) * coalesce(rates.rate_to_functional, 1.0) as amount_functional
    from lines
    left join matches on lines.bank_transaction_id = matches.record_id
    left join rates on rates.rate_date = lines.booking_date and rates.currency = lines.currency
),

daily as (
    select
        day,
        count(*) as lines,
        sum(is_matched) as matched,
        sum(case when is_matched = 0 then 1 else 0 end) as unmatched,
        sum(case when is_matched = 0 then amount_functional else 0 end) as unmatched_value
    from flagged
    group by day
),

booked_timing as (
    select
        bank.booking_date as day,
        case when {{ business_days_between('bank.booking_date', 'cast(gl.created_at as date)') }} <= 1 then 1 else 0 end
            as within_a_day
    from {{ ref('int_bank_lines_booked') }} as booked
    inner join lines as bank on bank.bank_transaction_id = booked.bank_transaction_id
    inner join (
        select entry_id, min(created_at) as created_at from {{ ref('fct_gl_entries') }} group by entry_id
    ) as gl on gl.entry_id = booked.entry_id
),

continuous as (
    select day, count(*) as booked, sum(within_a_day) as within_a_day
    from booked_timing
    group by day
),

final as (
    select day, 'continuous_close_share' as kpi,
        cast(within_a_day as {{ type_double() }}) / booked as value,
        cast(within_a_day as {{ type_double() }}) as numerator,
        cast(booked as {{ type_double() }}) as denominator
    from continuous
    union all
    select day, 'auto_match_rate' as kpi, cast(matched as {{ type_double() }}) / lines as value,
        cast(matched as {{ type_double() }}) as numerator, cast(lines as {{ type_double() }}) as denominator
    from daily
    union all
    select day, 'unreconciled_items_count', cast(unmatched as {{ type_double() }}),
        cast(unmatched as {{ type_double() }}), cast(null as {{ type_double() }})
    from daily
    union all
    select day, 'unreconciled_items_value', cast(unmatched_value as {{ type_double() }}),
        cast(unmatched_value as {{ type_double() }}), cast(null as {{ type_double() }})
    from daily
)

select * from final
