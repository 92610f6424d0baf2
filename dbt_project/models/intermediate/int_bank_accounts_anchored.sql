-- Every bank account with the one balance the bank itself states and the day it is stated for:
-- feed accounts: the current balance the feed reports, as of the feed's last booking day;
-- statement-file accounts: the closing balance of the latest statement that states one.
with feed_accounts as (
    select * from {{ ref('stg_bank_feed__accounts') }}
),

feed_last_day as (
    select max(booking_date) as last_day from {{ ref('stg_bank_feed__transactions') }}
),

statements as (
    select
        *,
        row_number() over (partition by account_id order by to_date desc, statement_id) as newest
    from {{ ref('stg_bank_files__statements') }}
    where closing_balance is not null
),

final as (
    select
        feed_accounts.account_id,
        feed_accounts.account_name,
        feed_accounts.currency,
        'bank_feed' as source_system,
        feed_accounts.current_balance as anchor_balance,
        feed_last_day.last_day as anchor_date
    from feed_accounts
    cross join feed_last_day
    union all
    select
        account_id,
        account_id as account_name,
        currency,
        'bank_file' as source_system,
        closing_balance as anchor_balance,
        to_date as anchor_date
    from statements
    where newest = 1
)

select * from final
