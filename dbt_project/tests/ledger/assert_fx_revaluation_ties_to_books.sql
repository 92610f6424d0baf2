-- The revalued balances are the books' balances:
-- * a foreign bank account's original-currency balance is the bank's end-of-day balance on the
--   month end (bank_balances_daily of the bank account it books) and its carrying amount the
--   ledger account's trial balance on that day; every such account has a row every month end;
-- * the carrying amounts of the open foreign invoices (bills) at a month end add up to the A/R (A/P)
--   postings of foreign-currency documents dated on or before it in fct_gl_entries.
with revaluation as (
    select * from {{ ref('fx_revaluation') }}
),

month_ends as (
    select distinct {{ dbt.last_day('balance_date', 'month') }} as month_end
    from {{ ref('trial_balance') }}
    where {{ dbt.last_day('balance_date', 'month') }} <= (select max(balance_date) from {{ ref('trial_balance') }})
),

accounts as (
    select * from {{ ref('dim_accounts') }}
),

foreign_bank_accounts as (
    select accounts.account_id, mapped.bank_account_id
    from accounts
    inner join {{ ref('int_bank_accounts_mapped') }} as mapped on mapped.ledger_account_id = accounts.account_id
    where accounts.account_type = 'Bank' and accounts.currency <> '{{ var("functional_currency") }}'
),

bank_check as (
    select
        'bank_account' as check_name,
        month_ends.month_end,
        foreign_bank_accounts.account_id as item,
        bank.balance as expected_original,
        revaluation.balance_original,
        ledger.balance as expected_carrying,
        revaluation.carrying_amount_functional
    from month_ends
    cross join foreign_bank_accounts
    left join {{ ref('bank_balances_daily') }} as bank
        on bank.account_id = foreign_bank_accounts.bank_account_id and bank.balance_date = month_ends.month_end
    left join {{ ref('trial_balance') }} as ledger
        on ledger.account_id = foreign_bank_accounts.account_id and ledger.balance_date = month_ends.month_end
    left join revaluation
        on revaluation.item_type = 'bank_account'
        and revaluation.item_id = foreign_bank_accounts.account_id
        and revaluation.month_end = month_ends.month_end
),

document_postings as (
    select
        month_ends.month_end,
        case when accounts.account_type = 'Accounts Receivable' then 'receivable' else 'payable' end as item_type,
        sum(gl.amount_functional) as ledger_balance
    from month_ends
    inner join {{ ref('fct_gl_entries') }} as gl on gl.posted_date <= month_ends.month_end
    inner join accounts on accounts.account_id = gl.account_id
    where accounts.account_type in ('Accounts Receivable', 'Accounts Payable')
        and gl.currency <> '{{ var("functional_currency") }}'
    group by month_ends.month_end, case when accounts.account_type = 'Accounts Receivable' then 'receivable' else 'payable' end
),

document_revaluation as (
    select month_end, item_type, sum(carrying_amount_functional) as carrying
    from revaluation
    where item_type in ('receivable', 'payable')
    group by month_end, item_type
),

document_check as (
    select
        document_postings.item_type as check_name,
        document_postings.month_end,
        document_postings.item_type as item,
        cast(null as decimal(18, 2)) as expected_original,
        cast(null as decimal(18, 2)) as balance_original,
        document_postings.ledger_balance as expected_carrying,
        coalesce(document_revaluation.carrying, 0) as carrying_amount_functional
    from document_postings
    left join document_revaluation
        on document_revaluation.month_end = document_postings.month_end
        and document_revaluation.item_type = document_postings.item_type
)

select * from bank_check
where balance_original is null
    or expected_original is null
    or balance_original <> expected_original
    or expected_carrying is null
    or carrying_amount_functional <> expected_carrying
union all
select * from document_check
where carrying_amount_functional <> expected_carrying
