-- The bank reconciliation: every bank line <-> the ledger posting on the mapped ledger bank account
-- that books it. Rules in priority order; each bank line and each ledger posting is used once.
--   ledger_source_link  the ledger document names the bank line it was booked from (integration)
--   ledger_payout_link  a deposit names a payout, and the bank line was matched to that payout
--   ledger_reference    a reference on both sides: an invoice the payment settles, or a transfer
--                       reference, appears in the bank text; amounts agree (or, for transfers booked
--                       in the functional currency, the reference alone)
--   ledger_amount_date  same account, same amount, dates at most the window apart, unique both ways
--   ledger_text_amount_date  as above where several candidates exist, but the ledger note is the bank
--                       text (hand-keyed entries copy the statement's descriptor), unique both ways
--   ledger_amount_date_order  several bank lines and as many postings of one amount on one account
--                       within the window (a payment made twice and booked twice): paired in date order
--   ledger_text_date    the same text within the window whose amounts differ by at most 10 %: a keying
--                       error in the ledger, reported as an amount_mismatch
--   ledger_transfer_pair the other leg of a transfer whose first leg matched a posting of a ledger
--                       entry: that entry's posting on the other leg's account (e.g. the EUR side of
--                       an FX conversion booked in the functional currency, so no amount agrees)
{%- set window = var('match_date_window_days') %}
{%- set tol = var('match_amount_tolerance') %}
with bank as (
    select
        bank_transaction_id, account_id, booking_date, amount, currency,
        upper(coalesce(remittance_info, '') || ' ' || coalesce(counterparty_name, '')) as text
    from {{ ref('fct_bank_transactions') }}
),

ledger_cash as (
    select
        gl.line_id as ledger_line_id,
        gl.entry_id,
        gl.source_entity,
        gl.source_record_id,
        gl.posted_date,
        mapped.bank_account_id as account_id,
        gl.currency as document_currency,
        -- the posting in the document's currency, signed like the bank (+ money in)
        case when gl.debit > 0 then gl.amount_txn else -gl.amount_txn end as amount,
        gl.source_link,
        upper(coalesce(gl.private_note, '')) as note
    from {{ ref('fct_gl_entries') }} as gl
    inner join {{ ref('int_bank_accounts_mapped') }} as mapped on mapped.ledger_account_id = gl.account_id
),

payouts as (
    select * from {{ ref('int_payouts_matched') }}
),

transfer_refs as (
    select out_transaction_id as bank_transaction_id, transfer_ref from {{ ref('int_transfers_matched') }}
    union all
    select in_transaction_id, transfer_ref from {{ ref('int_transfers_matched') }}
),

invoice_numbers as (
    select applications.payment_id, invoices.doc_number
    from {{ ref('stg_quickbooks__payment_applications') }} as applications
    inner join {{ ref('stg_quickbooks__invoices') }} as invoices on invoices.invoice_id = applications.invoice_id
    where invoices.doc_number is not null
),

by_link as (
    select bank.bank_transaction_id, ledger_cash.ledger_line_id, 'ledger_source_link' as rule, 1.0 as confidence
    from ledger_cash
    inner join bank on bank.bank_transaction_id = ledger_cash.source_link
    union all
    select payouts.bank_transaction_id, ledger_cash.ledger_line_id, 'ledger_payout_link', 0.99
    from ledger_cash
    inner join payouts on payouts.payout_id = ledger_cash.source_link
),

open_bank_1 as (
    select * from bank where bank_transaction_id not in (select bank_transaction_id from by_link)
),

open_ledger_1 as (
    select * from ledger_cash where ledger_line_id not in (select ledger_line_id from by_link)
),

reference_candidates as (
    select open_bank_1.bank_transaction_id, open_ledger_1.ledger_line_id
    from open_ledger_1
    inner join invoice_numbers
        on open_ledger_1.source_entity = 'Payment' and invoice_numbers.payment_id = open_ledger_1.source_record_id
    inner join open_bank_1
        on open_bank_1.account_id = open_ledger_1.account_id
        and open_bank_1.text like '%' || upper(invoice_numbers.doc_number) || '%'
        and abs(open_bank_1.amount - open_ledger_1.amount) <= {{ tol }}
    union
    select open_bank_1.bank_transaction_id, open_ledger_1.ledger_line_id
    from open_ledger_1
    inner join open_bank_1 on open_bank_1.account_id = open_ledger_1.account_id
    inner join transfer_refs on transfer_refs.bank_transaction_id = open_bank_1.bank_transaction_id
    where open_ledger_1.note like '%' || upper(transfer_refs.transfer_ref) || '%'
        and sign(open_bank_1.amount) = sign(open_ledger_1.amount)
),

by_reference as (
    select bank_transaction_id, ledger_line_id, 'ledger_reference' as rule, 0.95 as confidence
    from (
        select
            reference_candidates.*,
            count(*) over (partition by bank_transaction_id) as per_bank,
            count(*) over (partition by ledger_line_id) as per_ledger
        from reference_candidates
    ) as counted
    where per_bank = 1 and per_ledger = 1
),

open_bank_2 as (
    select * from open_bank_1 where bank_transaction_id not in (select bank_transaction_id from by_reference)
),

open_ledger_2 as (
    select * from open_ledger_1 where ledger_line_id not in (select ledger_line_id from by_reference)
),

amount_candidates as (
    select
        open_bank_2.bank_transaction_id,
        open_ledger_2.ledger_line_id,
        abs({{ dbt.datediff('open_ledger_2.posted_date', 'open_bank_2.booking_date', 'day') }}) as days_apart,
        count(*) over (partition by open_bank_2.bank_transaction_id) as per_bank,
        count(*) over (partition by open_ledger_2.ledger_line_id) as per_ledger
    from open_bank_2
    inner join open_ledger_2
        on open_bank_2.account_id = open_ledger_2.account_id
        and abs(open_bank_2.amount - open_ledger_2.amount) <= {{ tol }}
        and open_bank_2.booking_date between {{ dbt.dateadd('day', -window, 'open_ledger_2.posted_date') }}
            and {{ dbt.dateadd('day', window, 'open_ledger_2.posted_date') }}
),

by_amount as (
    select bank_transaction_id, ledger_line_id, 'ledger_amount_date' as rule, 0.85 - 0.02 * days_apart as confidence
    from amount_candidates
    where per_bank = 1 and per_ledger = 1
),

open_bank_3 as (
    select *, upper(regexp_replace(text, '[^A-Za-z0-9]', '', 'g')) as text_key
    from open_bank_2 where bank_transaction_id not in (select bank_transaction_id from by_amount)
),

open_ledger_3 as (
    select *, upper(regexp_replace(note, '[^A-Za-z0-9]', '', 'g')) as note_key
    from open_ledger_2 where ledger_line_id not in (select ledger_line_id from by_amount)
),

text_candidates as (
    select
        open_bank_3.bank_transaction_id,
        open_ledger_3.ledger_line_id,
        count(*) over (partition by open_bank_3.bank_transaction_id) as per_bank,
        count(*) over (partition by open_ledger_3.ledger_line_id) as per_ledger
    from open_bank_3
    inner join open_ledger_3
        on open_bank_3.account_id = open_ledger_3.account_id
        and abs(open_bank_3.amount - open_ledger_3.amount) <= {{ tol }}
        and open_ledger_3.note_key <> ''
        and open_bank_3.text_key like open_ledger_3.note_key || '%'
        and open_bank_3.booking_date between {{ dbt.dateadd('day', -window, 'open_ledger_3.posted_date') }}
            and {{ dbt.dateadd('day', window, 'open_ledger_3.posted_date') }}
),

by_text as (
    select bank_transaction_id, ledger_line_id, 'ledger_text_amount_date' as rule, 0.8 as confidence
    from text_candidates
    where per_bank = 1 and per_ledger = 1
),

open_bank_4 as (
    select * from open_bank_3 where bank_transaction_id not in (select bank_transaction_id from by_text)
),

open_ledger_4 as (
    select * from open_ledger_3 where ledger_line_id not in (select ledger_line_id from by_text)
),

ordered_bank as (
    select
        open_bank_4.*,
        row_number() over (partition by account_id, amount order by booking_date, bank_transaction_id) as n,
        count(*) over (partition by account_id, amount) as group_size
    from open_bank_4
),

ordered_ledger as (
    select
        open_ledger_4.*,
        row_number() over (partition by account_id, amount order by posted_date, ledger_line_id) as n,
        count(*) over (partition by account_id, amount) as group_size
    from open_ledger_4
),

by_order as (
    select ordered_bank.bank_transaction_id, ordered_ledger.ledger_line_id, 'ledger_amount_date_order' as rule,
        0.7 as confidence
    from ordered_bank
    inner join ordered_ledger
        on ordered_bank.account_id = ordered_ledger.account_id
        and ordered_bank.amount = ordered_ledger.amount
        and ordered_bank.n = ordered_ledger.n
        and ordered_bank.group_size = ordered_ledger.group_size
        and ordered_bank.group_size > 1
        and ordered_bank.booking_date between {{ dbt.dateadd('day', -window, 'ordered_ledger.posted_date') }}
            and {{ dbt.dateadd('day', window, 'ordered_ledger.posted_date') }}
),

open_bank_5 as (
    select * from open_bank_4 where bank_transaction_id not in (select bank_transaction_id from by_order)
),

open_ledger_5 as (
    select * from open_ledger_4 where ledger_line_id not in (select ledger_line_id from by_order)
),

near_candidates as (
    select
        open_bank_5.bank_transaction_id,
        open_ledger_5.ledger_line_id,
        count(*) over (partition by open_bank_5.bank_transaction_id) as per_bank,
        count(*) over (partition by open_ledger_5.ledger_line_id) as per_ledger
    from open_bank_5
    inner join open_ledger_5
        on open_bank_5.account_id = open_ledger_5.account_id
        and sign(open_bank_5.amount) = sign(open_ledger_5.amount)
        and abs(open_bank_5.amount - open_ledger_5.amount) <= 0.1 * abs(open_bank_5.amount)
        and open_ledger_5.note_key <> ''
        and open_bank_5.text_key like open_ledger_5.note_key || '%'
        and open_bank_5.booking_date between {{ dbt.dateadd('day', -window, 'open_ledger_5.posted_date') }}
            and {{ dbt.dateadd('day', window, 'open_ledger_5.posted_date') }}
),

by_near as (
    select bank_transaction_id, ledger_line_id, 'ledger_text_date' as rule, 0.6 as confidence
    from near_candidates
    where per_bank = 1 and per_ledger = 1
),

first_pass as (
    select * from by_link
    union all
    select * from by_reference
    union all
    select * from by_amount
    union all
    select * from by_text
    union all
    select * from by_order
    union all
    select * from by_near
),

transfer_legs as (
    select out_transaction_id as matched_leg, in_transaction_id as other_leg from {{ ref('int_transfers_matched') }}
    union all
    select in_transaction_id, out_transaction_id from {{ ref('int_transfers_matched') }}
),

pair_candidates as (
    select
        other_bank.bank_transaction_id,
        other_posting.ledger_line_id,
        count(*) over (partition by other_bank.bank_transaction_id) as per_bank,
        count(*) over (partition by other_posting.ledger_line_id) as per_ledger
    from first_pass
    inner join ledger_cash as matched_posting on matched_posting.ledger_line_id = first_pass.ledger_line_id
    inner join transfer_legs on transfer_legs.matched_leg = first_pass.bank_transaction_id
    inner join bank as other_bank on other_bank.bank_transaction_id = transfer_legs.other_leg
    inner join ledger_cash as other_posting
        on other_posting.entry_id = matched_posting.entry_id
        and other_posting.account_id = other_bank.account_id
        and other_posting.ledger_line_id <> matched_posting.ledger_line_id
        and sign(other_posting.amount) = sign(other_bank.amount)
    where other_bank.bank_transaction_id not in (select bank_transaction_id from first_pass)
        and other_posting.ledger_line_id not in (select ledger_line_id from first_pass)
),

by_transfer_pair as (
    select bank_transaction_id, ledger_line_id, 'ledger_transfer_pair' as rule, 0.9 as confidence
    from pair_candidates
    where per_bank = 1 and per_ledger = 1
),

matched as (
    select * from first_pass
    union all
    select * from by_transfer_pair
),

final as (
    select
        matched.bank_transaction_id,
        matched.ledger_line_id,
        ledger_cash.entry_id,
        ledger_cash.source_entity,
        ledger_cash.source_record_id,
        matched.rule,
        cast(matched.confidence as {{ type_double() }}) as confidence,
        bank.amount as bank_amount,
        ledger_cash.amount as ledger_amount,
        ledger_cash.document_currency,
        bank.currency as bank_currency
    from matched
    inner join bank on bank.bank_transaction_id = matched.bank_transaction_id
    inner join ledger_cash on ledger_cash.ledger_line_id = matched.ledger_line_id
)

select * from final
