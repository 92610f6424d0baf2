-- Every ledger document with the chain that explains it, record by record, across the systems:
--   deal -> invoice -> payment -> bank line        (order-to-cash, B2B)
--   order/charge -> daily sales summary -> clearing; payout -> deposit -> bank line   (e-commerce/card)
--   bill -> bill payment -> bank line              (purchase-to-pay)
-- has_source_chain: the document reaches a record in an originating system (a deal, the bank line
-- that moved the cash, the payout and its charges, the processor's or shop's day of sales).
-- steps_to_source: the number of links from the ledger document to the furthest source record found.
with documents as (
    select
        entry_id,
        min(source_entity) as source_entity,
        min(source_record_id) as source_record_id,
        min(posted_date) as posted_date,
        bool_or(is_manual) as is_manual,
        min(source_link) as source_link,
        sum(debit) as amount_functional,
        count(*) as gl_lines
    from {{ ref('fct_gl_entries') }}
    group by entry_id
),

booked as (
    select entry_id, count(*) as bank_lines, min(bank_transaction_id) as bank_transaction_id
    from {{ ref('int_bank_lines_booked') }}
    group by entry_id
),

payment_invoices as (
    select 'Payment:' || applications.payment_id as entry_id, min(invoices.doc_number) as invoice_number,
        min(applications.invoice_id) as invoice_id, count(*) as invoices
    from {{ ref('stg_quickbooks__payment_applications') }} as applications
    inner join {{ ref('stg_quickbooks__invoices') }} as invoices on invoices.invoice_id = applications.invoice_id
    group by applications.payment_id
),

invoice_payments as (
    -- an invoice's chain continues through the payment(s) that settled it to their bank lines
    select 'Invoice:' || applications.invoice_id as entry_id, min(booked.bank_transaction_id) as bank_transaction_id
    from {{ ref('stg_quickbooks__payment_applications') }} as applications
    inner join booked on booked.entry_id = 'Payment:' || applications.payment_id
    group by applications.invoice_id
),

bill_payments as (
    select 'BillPayment:' || bill_payment_id as entry_id, min(bill_id) as bill_id
    from {{ ref('stg_quickbooks__bill_payment_applications') }}
    group by bill_payment_id
),

bills_paid as (
    select 'Bill:' || applications.bill_id as entry_id, min(booked.bank_transaction_id) as bank_transaction_id
    from {{ ref('stg_quickbooks__bill_payment_applications') }} as applications
    inner join booked on booked.entry_id = 'BillPayment:' || applications.bill_payment_id
    group by applications.bill_id
),

deals as (
    select 'Invoice:' || invoice_id as entry_id, deal_id from {{ ref('int_deals_invoiced') }}
),

-- a deposit that names a processor payout (Stripe or Shopify Payments), with the charges it paid out
payouts as (
    select processor_payouts.payout_id, coalesce(charges.charges, 0) as charges
    from {{ ref('int_processor_payouts') }} as processor_payouts
    left join (
        select payout_id, count(*) as charges from {{ ref('stg_stripe__payout_balance_transactions') }}
        where type = 'charge'
        group by payout_id
        union all
        select payout_id, count(*) as charges from {{ ref('stg_shopify__balance_transactions') }}
        where type = 'charge' and payout_id is not null
        group by payout_id
    ) as charges on charges.payout_id = processor_payouts.payout_id
),

final as (
    select
        documents.entry_id,
        documents.source_entity,
        documents.source_record_id,
        documents.posted_date,
        documents.is_manual,
        documents.amount_functional,
        documents.gl_lines,
        coalesce(booked.bank_transaction_id, invoice_payments.bank_transaction_id, bills_paid.bank_transaction_id)
            as bank_transaction_id,
        payment_invoices.invoice_number,
        coalesce(payment_invoices.invoice_id,
            case when documents.source_entity = 'Invoice' then documents.source_record_id end) as invoice_id,
        deals.deal_id,
        bill_payments.bill_id,
        payouts.payout_id,
        payouts.charges as payout_charges,
        case when documents.source_link like 'stripe:%' or documents.source_link like 'shopify:%'
            then documents.source_link end as sales_day_link,
        case
            when documents.source_entity = 'Payment' then payment_invoices.invoice_id is not null and booked.entry_id is not null
            when documents.source_entity = 'BillPayment' then bill_payments.bill_id is not null and booked.entry_id is not null
            when documents.source_entity = 'Deposit' then booked.entry_id is not null
            when documents.source_entity = 'Invoice' then deals.deal_id is not null or invoice_payments.bank_transaction_id is not null
            when documents.source_entity = 'Bill' then bills_paid.bank_transaction_id is not null
            when documents.source_entity = 'JournalEntry' then booked.entry_id is not null
                or documents.source_link like 'stripe:%' or documents.source_link like 'shopify:%'
            else false
        end as has_source_chain,
        case
            when documents.source_entity = 'Payment' then
                (case when booked.entry_id is not null then 1 else 0 end)
                + (case when payment_invoices.invoice_id is not null then 1 else 0 end)
            when documents.source_entity = 'Invoice' then
                (case when deals.deal_id is not null then 1 else 0 end)
                + (case when invoice_payments.bank_transaction_id is not null then 2 else 0 end)
            when documents.source_entity = 'Bill' then case when bills_paid.bank_transaction_id is not null then 2 else 0 end
            when documents.source_entity = 'BillPayment' then
                (case when booked.entry_id is not null then 1 else 0 end)
                + (case when bill_payments.bill_id is not null then 1 else 0 end)
            when documents.source_entity = 'Deposit' then
                (case when booked.entry_id is not null then 1 else 0 end)
                + (case when payouts.payout_id is not null then 2 else 0 end)
            when booked.entry_id is not null then 1
            when documents.source_link like 'stripe:%' or documents.source_link like 'shopify:%' then 1
            else 0
        end as steps_to_source
    from documents
    left join booked on booked.entry_id = documents.entry_id
    left join payment_invoices on payment_invoices.entry_id = documents.entry_id
    left join invoice_payments on invoice_payments.entry_id = documents.entry_id
    left join bill_payments on bill_payments.entry_id = documents.entry_id
    left join bills_paid on bills_paid.entry_id = documents.entry_id
    left join deals on deals.entry_id = documents.entry_id
    left join payouts
        on payouts.payout_id = documents.source_link and documents.source_entity = 'Deposit'
)

select * from final
