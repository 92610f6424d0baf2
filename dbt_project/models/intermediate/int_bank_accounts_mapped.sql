-- Which bank account (feed or statement files) each ledger bank account books: the same currency
-- and the same name (case-insensitive), or else the only bank account in that currency.
with ledger as (
    select account_id as ledger_account_id, account_name, currency
    from {{ ref('dim_accounts') }}
    where account_type = 'Bank'
),

banks as (
    select account_id as bank_account_id, account_name, currency from {{ ref('int_bank_accounts_anchored') }}
),

by_name as (
    select ledger.ledger_account_id, banks.bank_account_id, 'name_and_currency' as rule
    from ledger
    inner join banks on banks.currency = ledger.currency and lower(banks.account_name) = lower(ledger.account_name)
),

single_currency as (
    select ledger.ledger_account_id, min(banks.bank_account_id) as bank_account_id, 'only_account_in_currency' as rule
    from ledger
    inner join banks on banks.currency = ledger.currency
    where ledger.ledger_account_id not in (select ledger_account_id from by_name)
    group by ledger.ledger_account_id
    having count(*) = 1
),

final as (
    select * from by_name
    union all
    select * from single_currency
)

select * from final
