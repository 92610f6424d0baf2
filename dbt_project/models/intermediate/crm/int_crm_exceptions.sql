-- What the deal ↔ invoice reconciliation could not explain, in the column shape of the exceptions
-- unioned in marts.reconciliation_exceptions (exception_type, amount, record_ids, bank_transaction_id,
-- counterpart_id, detail):
--   won_deal_not_invoiced            a deal won more than `deal_invoice_grace_days` (default 30) before
--                                    the data's as-of day with no standing invoice; record_ids = deal id;
--                                    amount = the deal's amount in the functional currency when a rate
--                                    is known (fx_rates_daily at the close date), else in its own currency
--   invoice_amount_differs_from_deal a matched invoice whose amount differs from its deal's beyond
--                                    `match_amount_tolerance`; record_ids = "deal id,invoice number";
--                                    amount = |difference| in the functional currency (invoice rate)
-- The as-of day is the latest business date either system shows (a closed deal's close date or an
-- invoice's TxnDate), not the wall clock nor a last-modified stamp (an API edit stamps the real now):
-- a sandbox or a restored backup is judged by its own time.
-- Grain: exception (exception_type, record_ids).
{%- set grace_days = var('deal_invoice_grace_days', 30) %}
{%- set tolerance = var('match_amount_tolerance', 0.01) %}
with deals as (
    select * from {{ ref('stg_hubspot__deals') }}
),

matched as (
    select * from {{ ref('int_deals_invoiced') }}
),

invoices as (
    select * from {{ ref('stg_quickbooks__invoices') }}
),

rates as (
    select * from {{ ref('fx_rates_daily') }}
),

as_of as (
    select max(activity_date) as as_of_date
    from (
        select max(cast(closed_at as date)) as activity_date from deals where is_closed
        union all
        select max(transaction_date) from invoices
    ) as activity
),

not_invoiced as (
    select
        'won_deal_not_invoiced' as exception_type,
        cast(case
            when deals.currency = '{{ var("functional_currency") }}' then deals.amount
            else coalesce(deals.amount * rates.rate_to_functional, deals.amount)
        end as decimal(18, 2)) as amount,
        deals.deal_id as record_ids,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        deals.deal_id as counterpart_id,
        'deal won ' || {{ as_text('cast(deals.closed_at as date)') }} || ' for '
            || {{ as_text('deals.amount') }} || ' ' || deals.currency || ', no invoice' as detail
    from deals
    cross join as_of
    left join rates
        on rates.rate_date = cast(deals.closed_at as date) and rates.currency = deals.currency
    where deals.is_won
        and deals.closed_at is not null
        and cast(deals.closed_at as date) < {{ dbt.dateadd('day', -grace_days, 'as_of.as_of_date') }}
        and deals.deal_id not in (select deal_id from matched)
),

amount_differs as (
    select
        'invoice_amount_differs_from_deal' as exception_type,
        cast(abs(matched.amount_difference) * coalesce(invoices.exchange_rate, 1) as decimal(18, 2)) as amount,
        matched.deal_id || ',' || matched.invoice_number as record_ids,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        matched.invoice_id as counterpart_id,
        'deal ' || {{ as_text('matched.deal_amount') }} || ' invoice ' || {{ as_text('matched.invoice_amount') }}
            || ' ' || matched.currency as detail
    from matched
    inner join invoices on invoices.invoice_id = matched.invoice_id
    where abs(matched.amount_difference) > {{ tolerance }}
),

final as (
    select * from not_invoiced
    union all
    select * from amount_differs
)

select * from final
