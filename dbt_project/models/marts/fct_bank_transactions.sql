-- One row per bank line, from the bank feed (API). Signed amounts: + money in.
with feed as (
    select * from {{ ref('stg_bank_feed__transactions') }}
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
)

select * from final
