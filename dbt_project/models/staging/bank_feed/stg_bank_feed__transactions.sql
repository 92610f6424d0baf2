-- Bank feed lines in the warehouse's sign convention (+ money in): Plaid reports outflows as
-- positive amounts, so the sign is flipped here. Removed and pending lines are excluded.
with source as (
    select * from {{ source('bank_feed', 'transactions') }}
),

renamed as (
    select
        transaction_id as bank_transaction_id,
        account_id,
        cast(date as date) as booking_date,
        cast(authorized_date as date) as value_date,
        cast(-amount as decimal(18, 2)) as amount,
        upper(coalesce(iso_currency_code, unofficial_currency_code)) as currency,
        coalesce(
            merchant_name,
            {{ json_text('counterparties', [0, 'name']) }},
            {{ json_text('payment_meta', ['payer']) }},
            {{ json_text('payment_meta', ['payee']) }}
        ) as counterparty_name,
        name as description,
        {{ json_text('payment_meta', ['reference_number']) }} as reference_number,
        payment_channel,
        {{ json_text('personal_finance_category', ['primary']) }} as bank_category,
        cast(pending as boolean) as is_pending,
        coalesce(cast(_is_deleted as boolean), false) as is_deleted
    from source
),

final as (
    select *
    from renamed
    where not is_deleted and not coalesce(is_pending, false)
)

select * from final
