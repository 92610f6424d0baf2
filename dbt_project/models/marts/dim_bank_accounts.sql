-- One row per bank account the warehouse has lines for (bank feed or statement files): its name as
-- the bank gives it (a statement file names no account: its account number then), currency, where
-- its lines come from, and the ledger bank account that books it (int_bank_accounts_mapped), if any.
with accounts as (
    select account_id, account_name, currency, source_system from {{ ref('int_bank_accounts_anchored') }}
),

seen as (
    -- accounts with lines but no stated balance yet (a statement file without a closing balance)
    select
        account_id,
        account_id as account_name,
        max(currency) as currency,
        max(source_system) as source_system
    from {{ ref('fct_bank_transactions') }}
    where account_id not in (select account_id from accounts)
    group by account_id
),

all_accounts as (
    select * from accounts
    union all
    select * from seen
),

mapped as (
    select
        mapped.bank_account_id,
        min(mapped.ledger_account_id) as ledger_account_id,
        min(ledger.account_name) as ledger_account_name
    from {{ ref('int_bank_accounts_mapped') }} as mapped
    left join {{ ref('dim_accounts') }} as ledger on ledger.account_id = mapped.ledger_account_id
    group by mapped.bank_account_id
),

final as (
    select
        all_accounts.account_id,
        all_accounts.account_name,
        all_accounts.currency,
        all_accounts.source_system,
        mapped.ledger_account_id,
        mapped.ledger_account_name
    from all_accounts
    left join mapped on mapped.bank_account_id = all_accounts.account_id
)

select * from final
