-- One row per bank line, from the bank feed (API) and from statement files. Signed: + money in.
-- The two cover different accounts (an account is either on the feed or sent as files); a line
-- appearing in several overlapping statements was loaded once (fingerprint).
with feed as (
    select * from {{ ref('stg_bank_feed__transactions') }}
),

files as (
    select * from {{ ref('stg_bank_files__transactions') }}
),

final as (
    select
        bank_transaction_id,
        account_id,
        booking_date,
        value_date,
        amount,
        currency,
        counterparty_name,
        description as remittance_info,
        reference_number,
        bank_category,
        'bank_feed' as source_system,
        cast(null as {{ dbt.type_string() }}) as source_file
    from feed
    union all
    select
        bank_transaction_id,
        account_id,
        booking_date,
        value_date,
        amount,
        currency,
        counterparty_name,
        remittance_info,
        reference_number,
        cast(null as {{ dbt.type_string() }}) as bank_category,
        'bank_file' as source_system,
        source_file
    from files
)

select * from final
