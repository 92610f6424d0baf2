-- What the reconciliation could not explain, by exception_type:
--   amount_mismatch     a matched bank line and payout whose amounts differ beyond the tolerance
--   unmatched_bank_line a processor line (Stripe, Shopify) on the bank statement that matches no payout
--   missing_bank_line   a paid payout that should have arrived but is on no bank line
--   missing_ledger_entry  a bank line on an account the ledger books that no ledger posting explains
--   unmatched_ledger_entry a ledger posting on a bank account that no bank line explains
--   unbooked_bank_account  bank lines of an account the ledger has no bank account for (once per account)
--   payout_mismatch     a payout whose amount is not the net of the transactions it settled
--   won_deal_not_invoiced, invoice_amount_differs_from_deal  CRM <-> ledger (int_crm_exceptions)
--   Shopify order days <-> the ledger's daily sales summary (int_orders_booked), record_ids
--   `shopify:<YYYY-MM-DD>` and/or the summary's entry id:
--     missing_ledger_entry    a shop day with orders or refunds that no summary books
--     amount_mismatch         a summary whose net differs from its day's orders − refunds beyond the tolerance
--     unmatched_ledger_entry  a Shopify summary that no shop day takes (no orders that day, or a second one)
with matches as (
    select * from {{ ref('reconciliation_matches') }}
),

bank_lines as (
    select * from {{ ref('fct_bank_transactions') }}
),

payouts as (
    select * from {{ ref('int_processor_payouts') }}
    where status = 'paid'
),

-- the processors whose bank lines must match a payout (even before any of their payouts is loaded)
processor_keywords as (
    select cast('STRIPE' as {{ dbt.type_string() }}) as bank_keyword
    union all
    select 'SHOPIFY'
),

last_bank_day as (
    select max(booking_date) as last_day from bank_lines
),

amount_mismatch as (
    select
        'amount_mismatch' as exception_type,
        abs(amount_difference) as amount,
        bank_transaction_id || ',' || counterpart_id as record_ids,
        bank_transaction_id,
        counterpart_id,
        'bank line ' || {{ as_text('bank_amount') }} || ' vs payout ' || {{ as_text('counterpart_amount') }} as detail
    from matches
    where abs(amount_difference) > {{ var('match_amount_tolerance') }}
),

unmatched_bank_line as (
    select
        'unmatched_bank_line' as exception_type,
        abs(bank_lines.amount) as amount,
        bank_lines.bank_transaction_id as record_ids,
        bank_lines.bank_transaction_id,
        cast(null as {{ dbt.type_string() }}) as counterpart_id,
        coalesce(bank_lines.remittance_info, '') as detail
    from bank_lines
    where exists (
            select 1 from processor_keywords
            where upper(coalesce(bank_lines.remittance_info, '') || ' ' || coalesce(bank_lines.counterparty_name, ''))
                like '%' || processor_keywords.bank_keyword || '%'
        )
        and bank_lines.amount > 0
        and bank_lines.bank_transaction_id not in (select bank_transaction_id from matches)
),

missing_bank_line as (
    select
        'missing_bank_line' as exception_type,
        payouts.amount,
        payouts.payout_id as record_ids,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        payouts.payout_id as counterpart_id,
        'payout arriving ' || {{ as_text('payouts.arrival_date') }} || ' not on any bank line' as detail
    from payouts
    cross join last_bank_day
    where payouts.payout_id not in (select counterpart_id from matches)
        and payouts.arrival_date <= {{ dbt.dateadd('day', -var('match_date_window_days'), 'last_bank_day.last_day') }}
),

booked as (
    select * from {{ ref('int_bank_lines_booked') }}
),

mapped_accounts as (
    select * from {{ ref('int_bank_accounts_mapped') }}
),

ledger_cash as (
    select gl.line_id, gl.entry_id, gl.posted_date, gl.debit - gl.credit as amount_functional, gl.account_id
    from {{ ref('fct_gl_entries') }} as gl
    inner join mapped_accounts on mapped_accounts.ledger_account_id = gl.account_id
),

missing_ledger_entry as (
    select
        'missing_ledger_entry' as exception_type,
        abs(bank_lines.amount) as amount,
        bank_lines.bank_transaction_id as record_ids,
        bank_lines.bank_transaction_id,
        cast(null as {{ dbt.type_string() }}) as counterpart_id,
        'bank line of ' || {{ as_text('bank_lines.booking_date') }} || ' not booked in the ledger: '
            || coalesce(bank_lines.remittance_info, '') as detail
    from bank_lines
    inner join mapped_accounts on mapped_accounts.bank_account_id = bank_lines.account_id
    where bank_lines.bank_transaction_id not in (select bank_transaction_id from booked)
),

unmatched_ledger_entry as (
    select
        'unmatched_ledger_entry' as exception_type,
        abs(ledger_cash.amount_functional) as amount,
        ledger_cash.line_id as record_ids,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        ledger_cash.entry_id as counterpart_id,
        'ledger posting of ' || {{ as_text('ledger_cash.posted_date') }} || ' on a bank account matches no bank line'
            as detail
    from ledger_cash
    where ledger_cash.line_id not in (select ledger_line_id from booked)
        and ledger_cash.posted_date >= (select min(booking_date) from bank_lines)
        -- opening balances are not movements of cash
        and ledger_cash.entry_id not in (
            select gl.entry_id from {{ ref('fct_gl_entries') }} as gl
            inner join {{ ref('dim_accounts') }} as a on a.account_id = gl.account_id
            where a.account_sub_type = 'OpeningBalanceEquity'
        )
),

unbooked_bank_account as (
    select
        'unbooked_bank_account' as exception_type,
        sum(abs(bank_lines.amount)) as amount,
        bank_lines.account_id as record_ids,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        bank_lines.account_id as counterpart_id,
        'account ' || bank_lines.account_id || ' (' || max(bank_lines.currency) || '): '
            || {{ as_text('count(*)') }} || ' bank lines, no ledger bank account books it' as detail
    from bank_lines
    where bank_lines.account_id not in (select bank_account_id from mapped_accounts)
    group by bank_lines.account_id
),

payout_mismatch as (
    select
        'payout_mismatch' as exception_type,
        abs(difference) as amount,
        payout_id as record_ids,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        payout_id as counterpart_id,
        'payout ' || {{ as_text('payout_amount') }} || ' vs net of its ' || {{ as_text('transactions') }}
            || ' transactions ' || {{ as_text('settled_net') }} as detail
    from {{ ref('int_payouts_reconciled') }}
    where has_members and abs(difference) > {{ var('match_amount_tolerance') }}
),

shop_days as (
    select * from {{ ref('int_orders_booked') }}
),

shop_missing_ledger_entry as (
    select
        'missing_ledger_entry' as exception_type,
        abs(orders_net) as amount,
        order_day_id as record_ids,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        cast(null as {{ dbt.type_string() }}) as counterpart_id,
        'Shopify day ' || {{ as_text('order_date') }} || ': ' || {{ as_text('order_count') }} || ' orders, '
            || {{ as_text('refund_count') }} || ' refunds, net ' || {{ as_text('orders_net') }}
            || ', no sales summary in the ledger' as detail
    from shop_days
    where status = 'missing_ledger_entry'
),

shop_amount_mismatch as (
    select
        'amount_mismatch' as exception_type,
        abs(amount_difference) as amount,
        order_day_id || ',' || entry_id as record_ids,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        entry_id as counterpart_id,
        'Shopify day ' || {{ as_text('order_date') }} || ' orders − refunds ' || {{ as_text('orders_net') }}
            || ' vs ledger summary ' || {{ as_text('ledger_net') }} as detail
    from shop_days
    where is_amount_mismatch
),

shop_unmatched_ledger_entry as (
    select
        'unmatched_ledger_entry' as exception_type,
        abs(ledger_net) as amount,
        entry_id as record_ids,
        cast(null as {{ dbt.type_string() }}) as bank_transaction_id,
        entry_id as counterpart_id,
        'Shopify sales summary of ' || {{ as_text('summary_date') }} || ' matches no Shopify order day' as detail
    from shop_days
    where status = 'unmatched_ledger_entry'
),

unioned as (
    select * from {{ ref('int_crm_exceptions') }}
    union all
    select * from shop_missing_ledger_entry
    union all
    select * from shop_amount_mismatch
    union all
    select * from shop_unmatched_ledger_entry
    union all
    select * from payout_mismatch
    union all
    select * from amount_mismatch
    union all
    select * from missing_ledger_entry
    union all
    select * from unmatched_ledger_entry
    union all
    select * from unbooked_bank_account
    union all
    select * from unmatched_bank_line
    union all
    select * from missing_bank_line
),

final as (
    select
        {{ dbt.hash("exception_type || '|' || record_ids") }} as exception_id,
        exception_type,
        cast(amount as decimal(18, 2)) as amount,
        record_ids,
        bank_transaction_id,
        counterpart_id,
        detail,
        {{ dbt.current_timestamp() }} as detected_at
    from unioned
)

select * from final
