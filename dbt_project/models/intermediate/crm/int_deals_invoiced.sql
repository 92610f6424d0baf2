-- Won HubSpot deal ↔ the QuickBooks invoice that bills it. One invoice per deal and one deal per
-- invoice. Voided invoices never match: a voided-and-reissued invoice keeps its DocNumber, so the
-- standing (reissued) document is the one that bills the deal. A cascade, each rule seeing only
-- what the rules before it left unmatched (docs/decisions.md, "Deals and invoices"):
--   1. deal_reference (1.0): the invoice names the deal (ledgerlake's sync note "ledgerlake-sync: <deal
--      id>", the deal id in the note or a line's description) or the deal's name carries the
--      invoice's DocNumber; unique both ways.
--   2. deal_customer_amount_date (0.9): the deal's company is the invoice's customer (names
--      normalised), same currency, amount within `match_amount_tolerance`, invoiced on the close day
--      or up to `deal_invoice_window_days` after it; unique both ways (an ambiguous pair falls through).
--   2b. deal_customer_amount_date_order (0.8): deals of one customer that rule 2 cannot tell apart
--      (same amount) take that customer's invoices of the amount in date order.
--   3. deal_customer_date (0.6): the same customer, currency and window, the amounts differ by at most
--      `deal_invoice_max_amount_ratio` of the deal; mutual best candidate (closest amount, then the
--      earliest invoice). The difference is reported as `invoice_amount_differs_from_deal`.
-- Grain: deal (each deal and each invoice at most once).
{%- set window_days = var('deal_invoice_window_days', 30) %}
{%- set tolerance = var('match_amount_tolerance', 0.01) %}
{%- set max_ratio = var('deal_invoice_max_amount_ratio', 0.5) %}
with deals as (
    select * from {{ ref('stg_hubspot__deals') }}
),

deal_companies as (
    select * from {{ ref('stg_hubspot__deal_companies') }}
    where is_primary
),

companies as (
    select * from {{ ref('stg_hubspot__companies') }}
),

invoices as (
    select * from {{ ref('stg_quickbooks__invoices') }}
    where not is_voided
),

invoice_lines as (
    select * from {{ ref('stg_quickbooks__invoice_lines') }}
),

customers as (
    select * from {{ ref('stg_quickbooks__customers') }}
),

won_deals as (
    select
        deals.deal_id,
        deals.deal_name,
        deals.amount,
        deals.currency,
        cast(deals.closed_at as date) as closed_date,
        deal_companies.company_id,
        companies.company_name,
        replace({{ normalise_vendor_name('companies.company_name') }}, ' ', '') as company_key
    from deals
    left join deal_companies on deal_companies.deal_id = deals.deal_id
    left join companies on companies.company_id = deal_companies.company_id
    where deals.is_won and deals.closed_at is not null
),

line_text as (
    select invoice_id, {{ string_agg_ordered('description', ' | ', 'line_id') }} as descriptions
    from invoice_lines
    where description is not null
    group by invoice_id
),

standing_invoices as (
    select
        invoices.invoice_id,
        invoices.doc_number,
        invoices.customer_id,
        coalesce(customers.customer_name, invoices.customer_name) as customer_name,
        invoices.transaction_date as invoice_date,
        invoices.currency,
        invoices.total_amount as amount,
        coalesce(invoices.source_link, '') || ' ' || coalesce(invoices.private_note, '') || ' '
            || coalesce(line_text.descriptions, '') as reference_text
    from invoices
    left join customers on customers.customer_id = invoices.customer_id
    left join line_text on line_text.invoice_id = invoices.invoice_id
),

-- a customer is known by its display name and its company name
customer_keys as (
    select distinct customer_id, replace({{ normalise_vendor_name('customer_name') }}, ' ', '') as customer_key
    from customers
    union
    select distinct customer_id, replace({{ normalise_vendor_name('company_name') }}, ' ', '') as customer_key
    from customers
    where company_name is not null
    union
    select distinct customer_id, replace({{ normalise_vendor_name('customer_name') }}, ' ', '') as customer_key
    from standing_invoices
),

-- 1. reference ------------------------------------------------------------------------------
reference_candidates as (
    select
        won_deals.deal_id,
        standing_invoices.invoice_id
    from won_deals
    inner join standing_invoices
        on standing_invoices.reference_text like '%' || won_deals.deal_id || '%'
        or (length(standing_invoices.doc_number) >= 5
            and won_deals.deal_name like '%' || standing_invoices.doc_number || '%')
),

reference_matches as (
    select deal_id, invoice_id, 'deal_reference' as rule, cast(1.0 as {{ type_double() }}) as confidence
    from (
        select
            deal_id,
            invoice_id,
            count(*) over (partition by deal_id) as per_deal,
            count(*) over (partition by invoice_id) as per_invoice
        from reference_candidates
    ) as counted
    where per_deal = 1 and per_invoice = 1
),

-- customer, currency and window: the candidates of rules 2 and 3 ------------------------------
customer_candidates as (
    select distinct
        won_deals.deal_id,
        standing_invoices.invoice_id,
        abs(standing_invoices.amount - won_deals.amount) as amount_gap,
        {{ dbt.datediff('won_deals.closed_date', 'standing_invoices.invoice_date', 'day') }} as days_gap,
        won_deals.amount as deal_amount,
        won_deals.closed_date,
        standing_invoices.customer_id,
        standing_invoices.amount as invoice_amount,
        standing_invoices.invoice_date
    from won_deals
    inner join standing_invoices
        on standing_invoices.currency = won_deals.currency
        and standing_invoices.invoice_date >= won_deals.closed_date
        and standing_invoices.invoice_date <= {{ dbt.dateadd('day', window_days, 'won_deals.closed_date') }}
    inner join customer_keys
        on customer_keys.customer_id = standing_invoices.customer_id
        and customer_keys.customer_key = won_deals.company_key
        and won_deals.company_key <> ''
    where won_deals.deal_id not in (select deal_id from reference_matches)
        and standing_invoices.invoice_id not in (select invoice_id from reference_matches)
),

-- 2. customer + amount + date, unique both ways ---------------------------------------------
amount_candidates as (
    select
        deal_id,
        invoice_id,
        count(*) over (partition by deal_id) as per_deal,
        count(*) over (partition by invoice_id) as per_invoice
    from customer_candidates
    where amount_gap <= {{ tolerance }}
),

amount_matches as (
    select deal_id, invoice_id, 'deal_customer_amount_date' as rule, cast(0.9 as {{ type_double() }}) as confidence
    from amount_candidates
    where per_deal = 1 and per_invoice = 1
),

-- 2b. the same, several deals of one customer for one amount: in order -----------------------
-- Deals that cannot be told apart (same customer, currency and amount) take that customer's invoices
-- of the amount in date order: the k-th deal to close gets the k-th invoice, if it is in its window.
ordered_candidates as (
    select
        customer_candidates.*,
        dense_rank() over (
            partition by customer_id, invoice_amount order by closed_date, deal_id
        ) as deal_order,
        dense_rank() over (
            partition by customer_id, invoice_amount order by invoice_date, invoice_id
        ) as invoice_order
    from customer_candidates
    where amount_gap <= {{ tolerance }}
        and deal_id not in (select deal_id from amount_matches)
        and invoice_id not in (select invoice_id from amount_matches)
),

ordered_pairs as (
    select
        deal_id,
        invoice_id,
        count(*) over (partition by deal_id) as per_deal,
        count(*) over (partition by invoice_id) as per_invoice
    from ordered_candidates
    where deal_order = invoice_order
),

ordered_matches as (
    select deal_id, invoice_id, 'deal_customer_amount_date_order' as rule, cast(0.8 as {{ type_double() }}) as confidence
    from ordered_pairs
    where per_deal = 1 and per_invoice = 1
),

-- 3. customer + date, the amount differs: mutual best candidate -------------------------------
date_candidates as (
    select
        deal_id,
        invoice_id,
        row_number() over (partition by deal_id order by amount_gap, days_gap, invoice_id) as deal_rank,
        row_number() over (partition by invoice_id order by amount_gap, days_gap, deal_id) as invoice_rank
    from customer_candidates
    where deal_id not in (select deal_id from amount_matches)
        and invoice_id not in (select invoice_id from amount_matches)
        and deal_id not in (select deal_id from ordered_matches)
        and invoice_id not in (select invoice_id from ordered_matches)
        and amount_gap <= {{ max_ratio }} * abs(deal_amount)
),

date_matches as (
    select deal_id, invoice_id, 'deal_customer_date' as rule, cast(0.6 as {{ type_double() }}) as confidence
    from date_candidates
    where deal_rank = 1 and invoice_rank = 1
),

matched as (
    select * from reference_matches
    union all
    select * from amount_matches
    union all
    select * from ordered_matches
    union all
    select * from date_matches
),

final as (
    select
        matched.deal_id,
        matched.invoice_id,
        standing_invoices.doc_number as invoice_number,
        matched.rule,
        matched.confidence,
        won_deals.company_id,
        standing_invoices.customer_id,
        won_deals.currency,
        won_deals.amount as deal_amount,
        standing_invoices.amount as invoice_amount,
        cast(standing_invoices.amount - won_deals.amount as decimal(18, 2)) as amount_difference,
        won_deals.closed_date,
        standing_invoices.invoice_date,
        {{ dbt.datediff('won_deals.closed_date', 'standing_invoices.invoice_date', 'day') }} as days_to_invoice
    from matched
    inner join won_deals on won_deals.deal_id = matched.deal_id
    inner join standing_invoices on standing_invoices.invoice_id = matched.invoice_id
)

select * from final
