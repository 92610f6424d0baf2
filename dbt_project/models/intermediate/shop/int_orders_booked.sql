-- Shopify order days ↔ the ledger's daily sales summary (one QuickBooks JournalEntry per shop day:
-- Dr Shopify Clearing the day's order totals incl. tax and shipping, Cr Sales and Sales Tax
-- Payable; the day's refunds Dr Refunds, Cr Shopify Clearing).
--
-- The shop day: Shopify stamps orders and refunds in the shop's timezone, and the ledger books a
-- summary per local day, but the orders API carries no timezone (it is on /shop.json, which is not
-- loaded) and staging keeps UTC. The UTC offset is the var `shop_utc_offset_minutes` when set;
-- otherwise the whole or half hour offset (UTC−12 … UTC+14) under which most order days agree with
-- their ledger summary within the tolerance, ties going to the offset nearest UTC (every offset in
-- a tie puts each order on the same day, so the matches do not depend on the tie-break).
--
-- Each day's orders and refunds in the functional currency (the shop currency converted at
-- fx_rates_daily of the record's UTC day, as fct_orders does) are matched to one summary:
--   1. shop_summary_link (1.0): the summary the integration booked for that day — its PrivateNote
--      is `ledgerlake-sync: shopify:<YYYY-MM-DD>` (source_link `shopify:%`) and its TxnDate is the day;
--      two linked summaries for one day: the first created matches, the other stays unmatched.
--   2. shop_summary_note_date (0.9): a hand-keyed JournalEntry whose note names Shopify, dated
--      on the day, when it is the day's only such entry.
-- The amounts are compared as the net the summary moves into the clearing (asset) account: orders
-- (total_price) − refunds vs Σ debit − credit of the summary's asset lines. They agree within
-- `match_amount_tolerance` (0.01) plus that much again for every refund of the day converted from
-- the presentment currency at the order's rate (each may be a cent off the shop's conversion).
-- status: matched; missing_ledger_entry (a day with orders or refunds on or before the ledger's
-- latest posting date, no summary); unmatched_ledger_entry (a Shopify summary no order day takes:
-- a day without orders, or a second summary); not_yet_booked (a day after the ledger's latest
-- posting date: the summary is not due yet).
-- Grain: one shop day with orders or refunds, or one unmatched Shopify summary; key order_day_id.
{%- set tolerance = var('match_amount_tolerance', 0.01) %}
{%- set offset_override = var('shop_utc_offset_minutes', none) %}
{%- if offset_override is not none and not ((offset_override | string) | trim | replace('-', '', 1)).isdigit() %}
    {{ exceptions.raise_compiler_error(
        "var shop_utc_offset_minutes: expected whole minutes east of UTC (e.g. -300 for New York), got '"
        ~ offset_override ~ "'") }}
{%- endif %}
with orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

refunds as (
    select * from {{ ref('stg_shopify__refunds') }}
),

gl as (
    select * from {{ ref('fct_gl_entries') }}
),

accounts as (
    select * from {{ ref('dim_accounts') }}
),

rates as (
    select * from {{ ref('fx_rates_daily') }}
),

events as (
    select
        order_id as record_id,
        created_at,
        currency,
        total_price as gross,
        total_tax as tax,
        cast(0 as decimal(18, 2)) as refunded,
        1 as is_order,
        0 as is_converted_refund
    from orders
    union all
    select
        refunds.refund_id,
        refunds.created_at,
        refunds.currency,
        cast(0 as decimal(18, 2)),
        cast(0 as decimal(18, 2)),
        refunds.amount,
        0,
        case when refunds.presentment_currency is not null and refunds.presentment_currency <> refunds.currency
            then 1 else 0 end
    from refunds
),

events_functional as (
    select
        events.record_id,
        events.created_at,
        events.is_order,
        events.is_converted_refund,
        {%- for col in ['gross', 'tax', 'refunded'] %}
        case when events.currency = '{{ var("functional_currency") }}' then events.{{ col }}
            else {{ round_money('events.' ~ col ~ ' * rates.rate_to_functional') }} end as {{ col }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from events
    left join rates
        on rates.rate_date = cast(events.created_at as date) and rates.currency = events.currency
),

summary_lines as (
    select
        gl.entry_id,
        gl.posted_date,
        gl.source_link,
        gl.is_manual,
        gl.created_at,
        gl.debit,
        gl.credit,
        accounts.classification,
        accounts.account_sub_type
    from gl
    left join accounts on accounts.account_id = gl.account_id
    where gl.source_entity = 'JournalEntry'
        and (gl.source_link like 'shopify:%' or lower(coalesce(gl.private_note, '')) like '%shopify%')
),

summaries as (
    select
        entry_id,
        posted_date as summary_date,
        max(source_link) as source_link,
        max(case when source_link like 'shopify:%' then 1 else 0 end) as is_linked,
        max(created_at) as created_at,
        sum(case when classification = 'Asset' then debit else 0 end) as ledger_gross,
        sum(case when classification = 'Asset' then credit else 0 end) as ledger_refunds,
        sum(case when account_sub_type = 'SalesTaxPayable' then credit - debit else 0 end) as ledger_tax,
        sum(case when classification = 'Asset' then debit - credit else 0 end) as ledger_net
    from summary_lines
    group by entry_id, posted_date
),

ledger_span as (
    select max(posted_date) as last_day from gl
),

{% if offset_override is none -%}
-- candidate offsets in minutes: UTC−12 to UTC+14 by half hours
offsets as (
    {%- for minutes in range(-720, 841, 30) %}
    select {{ minutes }} as offset_minutes{% if not loop.last %} union all{% endif %}
    {%- endfor %}
),

candidate_days as (
    select
        offsets.offset_minutes,
        cast({{ dbt.dateadd('minute', 'offsets.offset_minutes', 'events_functional.created_at') }} as date) as order_date,
        sum(events_functional.gross - events_functional.refunded) as orders_net,
        sum(events_functional.is_converted_refund) as converted_refunds
    from events_functional
    cross join offsets
    group by 1, 2
),

offset_scores as (
    select
        candidate_days.offset_minutes,
        sum(case
            when abs(summaries.ledger_net - candidate_days.orders_net)
                <= {{ tolerance }} * (1 + candidate_days.converted_refunds) then 1
            else 0
        end) as days_agreeing
    from candidate_days
    inner join summaries on summaries.summary_date = candidate_days.order_date
    group by candidate_days.offset_minutes
),

ranked_offsets as (
    select
        offset_minutes,
        row_number() over (order by days_agreeing desc, abs(offset_minutes), offset_minutes) as offset_rank
    from offset_scores
),

shop_offset as (
    select coalesce((select max(offset_minutes) from ranked_offsets where offset_rank = 1), 0) as offset_minutes
),
{%- else -%}
shop_offset as (
    select {{ offset_override | int }} as offset_minutes
),
{%- endif %}

order_days as (
    select
        cast({{ dbt.dateadd('minute', 'shop_offset.offset_minutes', 'events_functional.created_at') }} as date)
            as order_date,
        max(shop_offset.offset_minutes) as shop_utc_offset_minutes,
        sum(events_functional.is_order) as order_count,
        sum(1 - events_functional.is_order) as refund_count,
        sum(events_functional.gross) as orders_gross,
        sum(events_functional.tax) as orders_tax,
        sum(events_functional.refunded) as orders_refunds,
        sum(events_functional.gross - events_functional.refunded) as orders_net,
        {{ tolerance }} * (1 + sum(events_functional.is_converted_refund)) as tolerance
    from events_functional
    cross join shop_offset
    group by 1
),

-- rule 1: the integration's summary for the day (the first created when it posted two)
linked_candidates as (
    select
        order_days.order_date,
        summaries.entry_id,
        row_number() over (
            partition by order_days.order_date order by summaries.created_at, summaries.entry_id
        ) as pick
    from order_days
    inner join summaries
        on summaries.summary_date = order_days.order_date and summaries.is_linked = 1
),

linked as (
    select order_date, entry_id, 'shop_summary_link' as rule, 1.0 as confidence
    from linked_candidates
    where pick = 1
),

-- rule 2: the day's only hand-keyed Shopify summary, for days rule 1 left
noted_candidates as (
    select order_days.order_date, summaries.entry_id
    from order_days
    inner join summaries
        on summaries.summary_date = order_days.order_date and summaries.is_linked = 0
    where order_days.order_date not in (select order_date from linked)
),

noted as (
    select order_date, max(entry_id) as entry_id, 'shop_summary_note_date' as rule, 0.9 as confidence
    from noted_candidates
    group by order_date
    having count(*) = 1
),

matched as (
    select * from linked
    union all
    select * from noted
),

days as (
    select
        'shopify:' || {{ as_text('order_days.order_date') }} as order_day_id,
        order_days.order_date,
        matched.entry_id,
        matched.rule,
        cast(matched.confidence as decimal(3, 2)) as confidence,
        case
            when matched.entry_id is not null then 'matched'
            when order_days.order_date > ledger_span.last_day then 'not_yet_booked'
            else 'missing_ledger_entry'
        end as status,
        order_days.order_count,
        order_days.refund_count,
        order_days.orders_gross,
        order_days.orders_tax,
        order_days.orders_refunds,
        order_days.orders_net,
        order_days.tolerance,
        order_days.shop_utc_offset_minutes
    from order_days
    cross join ledger_span
    left join matched on matched.order_date = order_days.order_date
),

unmatched_summaries as (
    select
        summaries.entry_id as order_day_id,
        cast(null as date) as order_date,
        summaries.entry_id,
        cast(null as {{ dbt.type_string() }}) as rule,
        cast(null as decimal(3, 2)) as confidence,
        'unmatched_ledger_entry' as status,
        0 as order_count,
        0 as refund_count,
        cast(0 as decimal(18, 2)) as orders_gross,
        cast(0 as decimal(18, 2)) as orders_tax,
        cast(0 as decimal(18, 2)) as orders_refunds,
        cast(0 as decimal(18, 2)) as orders_net,
        {{ tolerance }} as tolerance,
        cast(null as integer) as shop_utc_offset_minutes
    from summaries
    where summaries.entry_id not in (select entry_id from matched)
),

unioned as (
    select * from days
    union all
    select * from unmatched_summaries
),

final as (
    select
        unioned.order_day_id,
        unioned.order_date,
        unioned.entry_id,
        summaries.summary_date,
        summaries.source_link,
        unioned.rule,
        unioned.confidence,
        unioned.status,
        cast(unioned.order_count as integer) as order_count,
        cast(unioned.refund_count as integer) as refund_count,
        cast(unioned.orders_gross as decimal(18, 2)) as orders_gross,
        cast(unioned.orders_tax as decimal(18, 2)) as orders_tax,
        cast(unioned.orders_refunds as decimal(18, 2)) as orders_refunds,
        cast(unioned.orders_net as decimal(18, 2)) as orders_net,
        cast(summaries.ledger_gross as decimal(18, 2)) as ledger_gross,
        cast(summaries.ledger_tax as decimal(18, 2)) as ledger_tax,
        cast(summaries.ledger_refunds as decimal(18, 2)) as ledger_refunds,
        cast(summaries.ledger_net as decimal(18, 2)) as ledger_net,
        cast(summaries.ledger_net - unioned.orders_net as decimal(18, 2)) as amount_difference,
        cast(unioned.tolerance as decimal(18, 2)) as tolerance,
        coalesce(
            unioned.status = 'matched' and abs(summaries.ledger_net - unioned.orders_net) > unioned.tolerance,
            false
        ) as is_amount_mismatch,
        unioned.shop_utc_offset_minutes
    from unioned
    left join summaries on summaries.entry_id = unioned.entry_id
)

select * from final
