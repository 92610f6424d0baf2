-- Month-end revaluation of open foreign-currency balances (unrealised exchange gain or loss), the
-- way a controller does it at close. A report, not a posting: nothing here flows into fct_gl_entries,
-- trial_balance or the statements, which keep equalling QuickBooks' own reports. Each row carries the
-- reversing journal a controller could post (dated the month end, reversed the next day).
-- Items revalued at every month end of the ledger (up to its latest posting day):
--   bank_account  each ledger bank account in a foreign currency: its balance in that currency is
--                 the bank's end-of-day balance (bank_balances_daily of the bank account it books,
--                 int_bank_accounts_mapped); its carrying amount the ledger's (trial_balance).
--   receivable    each foreign-currency invoice open at the month end (issued on or before it, not
--                 voided, less the payments applied to it dated on or before it), per document;
--   payable       each foreign-currency bill open at the month end, likewise.
--                 Carrying amount of a document = its A/R (A/P) posting as booked (fct_gl_entries)
--                 less each applied payment at the document's own rate, rounded to the cent per
--                 payment, as the ledger relieves A/R.
-- Closing rate: marts.fx_rates_daily on the month end; a day without a row takes the last rate on
-- or before it. Revalued = round(balance_original × closing_rate, 2).
-- Signs: every amount is debit − credit (as amount_functional), so payables are negative and a
-- positive unrealised_gain_loss is a gain for every kind of item.
with accounts as (
    select * from {{ ref('dim_accounts') }}
),

gl as (
    select * from {{ ref('fct_gl_entries') }}
),

trial_balance as (
    select * from {{ ref('trial_balance') }}
),

bank_balances as (
    select * from {{ ref('bank_balances_daily') }}
),

bank_mapping as (
    select * from {{ ref('int_bank_accounts_mapped') }}
),

rates as (
    select * from {{ ref('fx_rates_daily') }}
),

invoices as (
    select * from {{ ref('fct_invoices') }}
),

bills as (
    select * from {{ ref('fct_bills') }}
),

payment_applications as (
    select applications.invoice_id, applications.amount, payments.transaction_date as paid_date
    from {{ ref('stg_quickbooks__payment_applications') }} as applications
    inner join {{ ref('stg_quickbooks__payments') }} as payments on payments.payment_id = applications.payment_id
),

bill_payment_applications as (
    select applications.bill_id, applications.amount, payments.transaction_date as paid_date
    from {{ ref('stg_quickbooks__bill_payment_applications') }} as applications
    inner join {{ ref('stg_quickbooks__bill_payments') }} as payments
        on payments.bill_payment_id = applications.bill_payment_id
),

special_accounts as (
    select
        max(case when account_type = 'Accounts Receivable' then account_id end) as ar_account_id,
        max(case when account_type = 'Accounts Payable' then account_id end) as ap_account_id,
        max(case when account_sub_type = 'ExchangeGainOrLoss' then account_id end) as fx_account_id
    from accounts
),

-- every month end from the ledger's first month to its latest posting day
month_ends as (
    select distinct {{ dbt.last_day('balance_date', 'month') }} as month_end
    from trial_balance
    where {{ dbt.last_day('balance_date', 'month') }} <= (select max(balance_date) from trial_balance)
),

-- the closing rate: the last rate on or before the month end
closing_rates as (
    select month_end, currency, closing_rate, rate_date, rate_observed_on
    from (
        select
            month_ends.month_end,
            rates.currency,
            rates.rate_to_functional as closing_rate,
            rates.rate_date,
            rates.observed_on as rate_observed_on,
            row_number() over (partition by month_ends.month_end, rates.currency order by rates.rate_date desc)
                as pick
        from month_ends
        inner join rates on rates.rate_date <= month_ends.month_end
        where rates.currency <> '{{ var("functional_currency") }}'
    ) as ranked
    where pick = 1
),

-- foreign-currency bank accounts: the bank's balance in the currency, the ledger's in USD
foreign_bank_accounts as (
    select accounts.account_id, accounts.account_name, accounts.currency, bank_mapping.bank_account_id
    from accounts
    inner join bank_mapping on bank_mapping.ledger_account_id = accounts.account_id
    where accounts.account_type = 'Bank' and accounts.currency <> '{{ var("functional_currency") }}'
),

bank_balance_at_month_end as (
    select month_end, account_id, balance
    from (
        select
            month_ends.month_end,
            foreign_bank_accounts.account_id,
            bank_balances.balance,
            row_number() over (
                partition by month_ends.month_end, foreign_bank_accounts.account_id
                order by bank_balances.balance_date desc
            ) as pick
        from month_ends
        cross join foreign_bank_accounts
        inner join bank_balances
            on bank_balances.account_id = foreign_bank_accounts.bank_account_id
            and bank_balances.balance_date <= month_ends.month_end
    ) as ranked
    where pick = 1
),

bank_items as (
    select
        month_ends.month_end,
        'bank_account' as item_type,
        foreign_bank_accounts.account_id as item_id,
        foreign_bank_accounts.account_name as item_name,
        cast(null as {{ dbt.type_string() }}) as counterparty_name,
        foreign_bank_accounts.account_id,
        foreign_bank_accounts.currency,
        bank_balance_at_month_end.balance as balance_original,
        trial_balance.balance as carrying_amount_functional
    from month_ends
    cross join foreign_bank_accounts
    inner join bank_balance_at_month_end
        on bank_balance_at_month_end.month_end = month_ends.month_end
        and bank_balance_at_month_end.account_id = foreign_bank_accounts.account_id
    inner join trial_balance
        on trial_balance.account_id = foreign_bank_accounts.account_id
        and trial_balance.balance_date = month_ends.month_end
),

-- open foreign-currency invoices at each month end
foreign_invoices as (
    select
        invoices.invoice_id,
        invoices.invoice_number,
        invoices.customer_name,
        invoices.issue_date,
        invoices.currency,
        invoices.exchange_rate,
        invoices.total_amount,
        booked.debit - booked.credit as booked_functional
    from invoices
    inner join gl as booked
        on booked.source_entity = 'Invoice'
        and booked.source_record_id = invoices.invoice_id
        and booked.account_id = (select ar_account_id from special_accounts)
    where invoices.currency <> '{{ var("functional_currency") }}' and not invoices.is_voided
),

invoice_settled as (
    select
        month_ends.month_end,
        foreign_invoices.invoice_id,
        sum(payment_applications.amount) as settled_original,
        sum({{ round_money("payment_applications.amount * foreign_invoices.exchange_rate") }}) as settled_functional
    from month_ends
    cross join foreign_invoices
    inner join payment_applications
        on payment_applications.invoice_id = foreign_invoices.invoice_id
        and payment_applications.paid_date <= month_ends.month_end
    group by month_ends.month_end, foreign_invoices.invoice_id
),

receivable_items as (
    select
        month_ends.month_end,
        'receivable' as item_type,
        foreign_invoices.invoice_id as item_id,
        foreign_invoices.invoice_number as item_name,
        foreign_invoices.customer_name as counterparty_name,
        (select ar_account_id from special_accounts) as account_id,
        foreign_invoices.currency,
        cast(foreign_invoices.total_amount - coalesce(invoice_settled.settled_original, 0) as decimal(18, 2))
            as balance_original,
        cast(foreign_invoices.booked_functional - coalesce(invoice_settled.settled_functional, 0) as decimal(18, 2))
            as carrying_amount_functional
    from month_ends
    inner join foreign_invoices on foreign_invoices.issue_date <= month_ends.month_end
    left join invoice_settled
        on invoice_settled.month_end = month_ends.month_end
        and invoice_settled.invoice_id = foreign_invoices.invoice_id
    where foreign_invoices.total_amount - coalesce(invoice_settled.settled_original, 0) <> 0
),

-- open foreign-currency bills at each month end (credit balances: negative)
foreign_bills as (
    select
        bills.bill_id,
        bills.vendor_name,
        bills.bill_date,
        bills.currency,
        bills.exchange_rate,
        bills.total_amount,
        booked.account_id,
        booked.debit - booked.credit as booked_functional
    from bills
    inner join gl as booked
        on booked.source_entity = 'Bill'
        and booked.source_record_id = bills.bill_id
        and booked.line_id = 'Bill:' || bills.bill_id || ':ap'
    where bills.currency <> '{{ var("functional_currency") }}'
),

bill_settled as (
    select
        month_ends.month_end,
        foreign_bills.bill_id,
        sum(bill_payment_applications.amount) as settled_original,
        sum({{ round_money("bill_payment_applications.amount * foreign_bills.exchange_rate") }}) as settled_functional
    from month_ends
    cross join foreign_bills
    inner join bill_payment_applications
        on bill_payment_applications.bill_id = foreign_bills.bill_id
        and bill_payment_applications.paid_date <= month_ends.month_end
    group by month_ends.month_end, foreign_bills.bill_id
),

payable_items as (
    select
        month_ends.month_end,
        'payable' as item_type,
        foreign_bills.bill_id as item_id,
        'Bill ' || foreign_bills.bill_id as item_name,
        foreign_bills.vendor_name as counterparty_name,
        foreign_bills.account_id,
        foreign_bills.currency,
        cast(-(foreign_bills.total_amount - coalesce(bill_settled.settled_original, 0)) as decimal(18, 2))
            as balance_original,
        cast(foreign_bills.booked_functional + coalesce(bill_settled.settled_functional, 0) as decimal(18, 2))
            as carrying_amount_functional
    from month_ends
    inner join foreign_bills on foreign_bills.bill_date <= month_ends.month_end
    left join bill_settled
        on bill_settled.month_end = month_ends.month_end
        and bill_settled.bill_id = foreign_bills.bill_id
    where foreign_bills.total_amount - coalesce(bill_settled.settled_original, 0) <> 0
),

items as (
    select * from bank_items
    union all
    select * from receivable_items
    union all
    select * from payable_items
),

revalued as (
    select
        items.*,
        closing_rates.closing_rate,
        closing_rates.rate_date,
        closing_rates.rate_observed_on,
        {{ round_money("items.balance_original * closing_rates.closing_rate") }} as revalued_amount_functional
    from items
    inner join closing_rates
        on closing_rates.month_end = items.month_end
        and closing_rates.currency = items.currency
),

with_gain as (
    select
        revalued.*,
        cast(revalued.revalued_amount_functional - revalued.carrying_amount_functional as decimal(18, 2))
            as unrealised_gain_loss,
        lag(revalued.month_end) over (
            partition by revalued.item_type, revalued.item_id order by revalued.month_end
        ) as previous_month_end,
        lag(cast(revalued.revalued_amount_functional - revalued.carrying_amount_functional as decimal(18, 2))) over (
            partition by revalued.item_type, revalued.item_id order by revalued.month_end
        ) as previous_gain_loss
    from revalued
),

final as (
    select
        with_gain.item_type || ':' || with_gain.item_id || ':' || cast(with_gain.month_end as {{ dbt.type_string() }})
            as revaluation_id,
        with_gain.month_end,
        with_gain.item_type,
        with_gain.item_id,
        with_gain.item_name,
        with_gain.counterparty_name,
        with_gain.account_id,
        accounts.account_name,
        with_gain.currency,
        with_gain.balance_original,
        with_gain.carrying_amount_functional,
        with_gain.closing_rate,
        with_gain.rate_date,
        with_gain.rate_observed_on,
        with_gain.revalued_amount_functional,
        with_gain.unrealised_gain_loss,
        -- the previous month end's figure for the same item; 0 when it was not open then
        cast(case
            when with_gain.previous_month_end = cast({{ dbt.dateadd('day', '-1', dbt.date_trunc('month', 'with_gain.month_end')) }} as date)
                then with_gain.previous_gain_loss
            else 0
        end as decimal(18, 2)) as previous_unrealised_gain_loss,
        cast(with_gain.unrealised_gain_loss - case
            when with_gain.previous_month_end = cast({{ dbt.dateadd('day', '-1', dbt.date_trunc('month', 'with_gain.month_end')) }} as date)
                then with_gain.previous_gain_loss
            else 0
        end as decimal(18, 2)) as unrealised_gain_loss_change,
        -- the proposed reversing entry: Dr/Cr the item's account against exchange gain or loss
        case when with_gain.unrealised_gain_loss >= 0 then with_gain.account_id else special_accounts.fx_account_id end
            as proposed_debit_account_id,
        case when with_gain.unrealised_gain_loss >= 0 then special_accounts.fx_account_id else with_gain.account_id end
            as proposed_credit_account_id,
        cast(abs(with_gain.unrealised_gain_loss) as decimal(18, 2)) as proposed_amount,
        cast({{ dbt.dateadd('day', '1', 'with_gain.month_end') }} as date) as proposed_reversal_date
    from with_gain
    cross join special_accounts
    left join accounts on accounts.account_id = with_gain.account_id
)

select * from final
