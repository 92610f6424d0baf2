-- The general ledger in double entry, derived from QuickBooks' transactions the way QuickBooks
-- posts them (its API has no journal of every posting). Amounts in the functional currency:
-- document amount × the document's ExchangeRate, rounded to the cent; each entry balances because
-- its balancing side is the sum of its rounded lines (and a payment's difference between the
-- invoice's rate and the payment's rate goes to the exchange gain/loss account).
--   Invoice      Dr A/R (total)            Cr the item's income account (per line)
--   Payment      Dr deposit account        Cr A/R at the invoices' rates; FX difference
--   Bill         Dr expense (per line)     Cr A/P
--   BillPayment  Dr A/P                    Cr the paying bank account
--   Deposit      Dr deposit account        Cr the line's account (per line; a negative line is a Dr)
--   JournalEntry Dr/Cr as posted per line
with accounts as (
    select * from {{ ref('stg_quickbooks__accounts') }}
),

special as (
    select
        max(case when account_type = 'Accounts Receivable' then account_id end) as ar_account_id,
        max(case when account_type = 'Accounts Payable' then account_id end) as ap_account_id,
        max(case when account_sub_type = 'ExchangeGainOrLoss' then account_id end) as fx_account_id
    from accounts
),

items as (
    select * from {{ ref('stg_quickbooks__items') }}
),

income_by_name as (
    -- fallback while items are not loaded: the income account named after the item
    select account_id, lower(account_name) as account_name from accounts where classification = 'Revenue'
),

invoices as (
    select * from {{ ref('stg_quickbooks__invoices') }} where not is_voided and total_amount <> 0
),

invoice_lines as (
    select
        invoice_lines.*,
        coalesce(
            items.income_account_id,
            (select min(i.account_id) from income_by_name as i
             where i.account_name like lower(invoice_lines.item_name) || '%')
        ) as income_account_id
    from {{ ref('stg_quickbooks__invoice_lines') }} as invoice_lines
    left join items on items.item_id = invoice_lines.item_id
),

invoice_credits as (
    select
        'Invoice' as entity,
        invoices.invoice_id as transaction_id,
        invoice_lines.line_id,
        invoice_lines.income_account_id as account_id,
        cast(0 as decimal(18, 2)) as debit,
        {{ round_money("invoice_lines.amount * invoices.exchange_rate") }} as credit,
        invoice_lines.amount as amount_txn,
        coalesce(invoice_lines.description, invoice_lines.item_name) as description
    from invoice_lines
    inner join invoices on invoices.invoice_id = invoice_lines.invoice_id
),

invoice_debits as (
    select
        'Invoice' as entity,
        transaction_id,
        'ar' as line_id,
        (select ar_account_id from special) as account_id,
        sum(credit) as debit,
        cast(0 as decimal(18, 2)) as credit,
        sum(amount_txn) as amount_txn,
        'Accounts receivable' as description
    from invoice_credits
    group by transaction_id
),

payments as (
    select * from {{ ref('stg_quickbooks__payments') }}
),

payment_ar as (
    select
        applications.payment_id,
        sum({{ round_money("applications.amount * coalesce(inv.exchange_rate, payments.exchange_rate)") }})
            as ar_credit,
        sum(applications.amount) as applied
    from {{ ref('stg_quickbooks__payment_applications') }} as applications
    inner join payments on payments.payment_id = applications.payment_id
    left join {{ ref('stg_quickbooks__invoices') }} as inv on inv.invoice_id = applications.invoice_id
    group by applications.payment_id
),

payment_lines as (
    select
        'Payment' as entity, payments.payment_id as transaction_id, 'bank' as line_id,
        payments.deposit_account_id as account_id,
        {{ round_money("payments.total_amount * payments.exchange_rate") }} as debit,
        cast(0 as decimal(18, 2)) as credit,
        payments.total_amount as amount_txn, 'Payment received' as description
    from payments
    union all
    select
        'Payment', payments.payment_id, 'ar', (select ar_account_id from special),
        cast(0 as decimal(18, 2)),
        cast(coalesce(payment_ar.ar_credit, 0)
            + {{ round_money("(payments.total_amount - coalesce(payment_ar.applied, 0)) * payments.exchange_rate") }}
            as decimal(18, 2)),
        payments.total_amount, 'Accounts receivable'
    from payments
    left join payment_ar on payment_ar.payment_id = payments.payment_id
),

payment_fx as (
    select
        'Payment' as entity, transaction_id, 'fx' as line_id, (select fx_account_id from special) as account_id,
        case when sum(credit) - sum(debit) > 0 then sum(credit) - sum(debit) else 0 end as debit,
        case when sum(debit) - sum(credit) > 0 then sum(debit) - sum(credit) else 0 end as credit,
        cast(0 as decimal(18, 2)) as amount_txn, 'Exchange gain or loss' as description
    from payment_lines
    group by transaction_id
    having sum(debit) <> sum(credit)
),

bills as (
    select * from {{ ref('stg_quickbooks__bills') }}
),

bill_debits as (
    select
        'Bill' as entity, bills.bill_id as transaction_id, lines.line_id, lines.account_id,
        {{ round_money("lines.amount * bills.exchange_rate") }} as debit,
        cast(0 as decimal(18, 2)) as credit,
        lines.amount as amount_txn, lines.description
    from {{ ref('stg_quickbooks__bill_lines') }} as lines
    inner join bills on bills.bill_id = lines.bill_id
),

bill_credits as (
    select
        'Bill' as entity, bill_debits.transaction_id, 'ap' as line_id,
        coalesce(max(bills.ap_account_id), (select ap_account_id from special)) as account_id,
        cast(0 as decimal(18, 2)) as debit, sum(bill_debits.debit) as credit,
        sum(bill_debits.amount_txn) as amount_txn, 'Accounts payable' as description
    from bill_debits
    inner join bills on bills.bill_id = bill_debits.transaction_id
    group by bill_debits.transaction_id
),

bill_payments as (
    select * from {{ ref('stg_quickbooks__bill_payments') }}
),

bill_payment_lines as (
    select
        'BillPayment' as entity, bill_payment_id as transaction_id, 'ap' as line_id,
        (select ap_account_id from special) as account_id,
        {{ round_money("total_amount * exchange_rate") }} as debit,
        cast(0 as decimal(18, 2)) as credit, total_amount as amount_txn, 'Accounts payable' as description
    from bill_payments
    union all
    select
        'BillPayment', bill_payment_id, 'bank', bank_account_id,
        cast(0 as decimal(18, 2)), {{ round_money("total_amount * exchange_rate") }},
        total_amount, 'Bill payment'
    from bill_payments
),

deposits as (
    select * from {{ ref('stg_quickbooks__deposits') }}
),

deposit_credits as (
    select
        'Deposit' as entity, deposits.deposit_id as transaction_id, lines.line_id, lines.account_id,
        -- a negative line (a fee the processor kept, netted out of the deposit) is a debit
        case when lines.amount < 0
            then {{ round_money("-lines.amount * deposits.exchange_rate") }}
            else cast(0 as decimal(18, 2)) end as debit,
        case when lines.amount < 0
            then cast(0 as decimal(18, 2))
            else {{ round_money("lines.amount * deposits.exchange_rate") }} end as credit,
        abs(lines.amount) as amount_txn, lines.description,
        lines.amount as signed_amount_txn
    from {{ ref('stg_quickbooks__deposit_lines') }} as lines
    inner join deposits on deposits.deposit_id = lines.deposit_id
),

deposit_debits as (
    select
        'Deposit' as entity, deposit_credits.transaction_id, 'bank' as line_id,
        max(deposits.deposit_account_id) as account_id,
        sum(deposit_credits.credit) - sum(deposit_credits.debit) as debit, cast(0 as decimal(18, 2)) as credit,
        sum(deposit_credits.signed_amount_txn) as amount_txn, 'Deposit' as description
    from deposit_credits
    inner join deposits on deposits.deposit_id = deposit_credits.transaction_id
    group by deposit_credits.transaction_id
),

journal_lines as (
    select
        'JournalEntry' as entity, entries.journal_entry_id as transaction_id, lines.line_id, lines.account_id,
        case when lines.posting_type = 'Debit'
            then {{ round_money("lines.amount * entries.exchange_rate") }}
            else cast(0 as decimal(18, 2)) end as debit,
        case when lines.posting_type = 'Credit'
            then {{ round_money("lines.amount * entries.exchange_rate") }}
            else cast(0 as decimal(18, 2)) end as credit,
        lines.amount as amount_txn, lines.description
    from {{ ref('stg_quickbooks__journal_entry_lines') }} as lines
    inner join {{ ref('stg_quickbooks__journal_entries') }} as entries
        on entries.journal_entry_id = lines.journal_entry_id
),

unioned as (
    select * from invoice_credits
    union all select * from invoice_debits
    union all select * from payment_lines
    union all select * from payment_fx
    union all select * from bill_debits
    union all select * from bill_credits
    union all select * from bill_payment_lines
    union all
    select entity, transaction_id, line_id, account_id, debit, credit, amount_txn, description
    from deposit_credits
    union all select * from deposit_debits
    union all select * from journal_lines
),

headers as (
    select 'Invoice' as entity, invoice_id as transaction_id, transaction_date, currency, exchange_rate,
        is_integration, source_link, private_note, created_at, updated_at
    from {{ ref('stg_quickbooks__invoices') }}
    union all
    select 'Payment', payment_id, transaction_date, currency, exchange_rate, is_integration, source_link,
        private_note, created_at, updated_at
    from payments
    union all
    select 'Bill', bill_id, transaction_date, currency, exchange_rate, is_integration, source_link,
        private_note, created_at, updated_at
    from bills
    union all
    select 'BillPayment', bill_payment_id, transaction_date, currency, exchange_rate, is_integration,
        source_link, private_note, created_at, updated_at
    from bill_payments
    union all
    select 'Deposit', deposit_id, transaction_date, currency, exchange_rate, is_integration, source_link,
        private_note, created_at, updated_at
    from deposits
    union all
    select 'JournalEntry', journal_entry_id, transaction_date, currency, exchange_rate, is_integration,
        source_link, private_note, created_at, updated_at
    from {{ ref('stg_quickbooks__journal_entries') }}
),

final as (
    select
        unioned.entity || ':' || unioned.transaction_id as entry_id,
        unioned.entity || ':' || unioned.transaction_id || ':' || unioned.line_id as line_id,
        unioned.entity,
        unioned.transaction_id,
        headers.transaction_date as posted_date,
        unioned.account_id,
        unioned.debit,
        unioned.credit,
        headers.currency,
        unioned.amount_txn,
        headers.exchange_rate,
        headers.is_integration,
        headers.source_link,
        headers.private_note,
        headers.created_at,
        headers.updated_at,
        unioned.description
    from unioned
    inner join headers on headers.entity = unioned.entity and headers.transaction_id = unioned.transaction_id
    where unioned.debit <> 0 or unioned.credit <> 0
)

select * from final
