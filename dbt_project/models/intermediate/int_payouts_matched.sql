-- Bank line <-> processor payout (Stripe or Shopify Payments, int_processor_payouts), by a cascade of
-- rules in priority order. A bank line and a payout are each used by one match at most.
--   1. payout_reference: the payout id appears in the bank line's text (a Shopify id is a bare
--      number, so its line must also name Shopify).
--   2. payout_amount_date: same amount and currency, booked within the date window after the payout's
--      arrival date, the line names the payout's processor, and the pair is unique both ways.
--   3. payout_text_date: see below (a keying error in the bank line's amount).
with payouts as (
    select * from {{ ref('int_processor_payouts') }}
    where status in ('paid', 'in_transit')
),

bank_lines as (
    select
        bank_transaction_id,
        account_id,
        booking_date,
        amount,
        currency,
        upper(coalesce(remittance_info, '') || ' ' || coalesce(counterparty_name, '')) as text
    from {{ ref('fct_bank_transactions') }}
    where amount > 0
),

by_reference as (
    select
        bank_lines.bank_transaction_id,
        payouts.payout_id,
        payouts.processor,
        'payout_reference' as rule,
        cast(1.0 as {{ type_double() }}) as confidence,
        bank_lines.amount as bank_amount,
        payouts.amount as payout_amount
    from bank_lines
    inner join payouts
        on (
            (payouts.processor = 'stripe' and bank_lines.text like '%' || upper(payouts.payout_id) || '%')
            -- a Shopify id is a bare number: a whole token of a line that names Shopify, so payout
            -- 623721858 is not found inside 1623721858
            or (payouts.processor <> 'stripe'
                and bank_lines.text like '%' || payouts.bank_keyword || '%'
                and ' ' || {{ dbt.replace(dbt.replace('bank_lines.text', "'*'", "' '"), "':'", "' '") }} || ' '
                    like '% ' || payouts.payout_id || ' %')
        )
),

open_lines as (
    select * from bank_lines
    where bank_transaction_id not in (select bank_transaction_id from by_reference)
),

open_payouts as (
    select * from payouts
    where payout_id not in (select payout_id from by_reference)
),

candidates as (
    select
        open_lines.bank_transaction_id,
        open_payouts.payout_id,
        open_payouts.processor,
        open_lines.amount as bank_amount,
        open_payouts.amount as payout_amount,
        {{ dbt.datediff('open_payouts.arrival_date', 'open_lines.booking_date', 'day') }} as days_late
    from open_lines
    inner join open_payouts
        on open_lines.text like '%' || open_payouts.bank_keyword || '%'
        and open_lines.currency = open_payouts.currency
        and abs(open_lines.amount - open_payouts.amount) <= {{ var('match_amount_tolerance') }}
        and open_lines.booking_date >= open_payouts.arrival_date
        and open_lines.booking_date <= {{ dbt.dateadd('day', var('match_date_window_days'), 'open_payouts.arrival_date') }}
),

candidate_counts as (
    select
        candidates.*,
        count(*) over (partition by bank_transaction_id) as payouts_for_line,
        count(*) over (partition by payout_id) as lines_for_payout
    from candidates
),

by_amount_date as (
    select
        bank_transaction_id,
        payout_id,
        processor,
        'payout_amount_date' as rule,
        cast(0.9 - 0.02 * days_late as {{ type_double() }}) as confidence,
        bank_amount,
        payout_amount
    from candidate_counts
    where payouts_for_line = 1 and lines_for_payout = 1
),

-- 3. payout_text_date: what is still open after 1 and 2 — a processor line without the payout id
--    whose amount was keyed wrong — on the day the bank is expected to book the payout exactly
--    (int_processor_payouts.expected_bank_date), within 10 % of the amount,
--    and the only such pair both ways; the difference is reported as an amount_mismatch.
near_open_lines as (
    select * from open_lines
    where bank_transaction_id not in (select bank_transaction_id from by_amount_date)
),

near_open_payouts as (
    select * from open_payouts
    where payout_id not in (select payout_id from by_amount_date)
),

near_candidates as (
    select
        near_open_lines.bank_transaction_id,
        near_open_payouts.payout_id,
        near_open_payouts.processor,
        near_open_lines.amount as bank_amount,
        near_open_payouts.amount as payout_amount,
        count(*) over (partition by near_open_lines.bank_transaction_id) as payouts_for_line,
        count(*) over (partition by near_open_payouts.payout_id) as lines_for_payout
    from near_open_lines
    inner join near_open_payouts
        on near_open_lines.text like '%' || near_open_payouts.bank_keyword || '%'
        and near_open_lines.currency = near_open_payouts.currency
        and near_open_lines.booking_date = near_open_payouts.expected_bank_date
        and abs(near_open_lines.amount - near_open_payouts.amount) <= 0.1 * abs(near_open_payouts.amount)
),

by_text_date as (
    select
        bank_transaction_id,
        payout_id,
        processor,
        'payout_text_date' as rule,
        cast(0.6 as {{ type_double() }}) as confidence,
        bank_amount,
        payout_amount
    from near_candidates
    where payouts_for_line = 1 and lines_for_payout = 1
),

final as (
    select * from by_reference
    union all
    select * from by_amount_date
    union all
    select * from by_text_date
)

select * from final
