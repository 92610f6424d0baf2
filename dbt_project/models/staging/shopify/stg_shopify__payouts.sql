-- Shopify Payments payouts, one row per payout: its date (the day Shopify sends it; the bank
-- credits it a business day or so later), status (scheduled, in_transit, paid, failed, cancelled),
-- amount in the payout currency, and the summary Shopify gives of what it pays out: gross and fees
-- of charges, refunds (negative), adjustments, reserved funds and retried payouts. The amount is
-- Σ gross − Σ fees over those parts. Money arrives as decimal text.
{%- set parts = ['charges', 'refunds', 'adjustments', 'reserved_funds', 'retried_payouts'] %}
with source as (
    {{ optional_raw('raw_shopify', 'payouts', {
        'id': 'bigint',
        'status': dbt.type_string(),
        'date': 'date',
        'currency': dbt.type_string(),
        'amount': dbt.type_string(),
        'summary__charges_gross_amount': dbt.type_string(),
        'summary__charges_fee_amount': dbt.type_string(),
        'summary__refunds_gross_amount': dbt.type_string(),
        'summary__refunds_fee_amount': dbt.type_string(),
        'summary__adjustments_gross_amount': dbt.type_string(),
        'summary__adjustments_fee_amount': dbt.type_string(),
        'summary__reserved_funds_gross_amount': dbt.type_string(),
        'summary__reserved_funds_fee_amount': dbt.type_string(),
        'summary__retried_payouts_gross_amount': dbt.type_string(),
        'summary__retried_payouts_fee_amount': dbt.type_string(),
    }) }}
),

renamed as (
    select
        {{ as_text('id') }} as payout_id,
        cast(date as date) as payout_date,
        status,
        upper(currency) as currency,
        cast(amount as decimal(18, 2)) as amount,
        {%- for part in parts %}
        cast(coalesce(summary__{{ part }}_gross_amount, '0') as decimal(18, 2)) as {{ part }}_gross,
        cast(coalesce(summary__{{ part }}_fee_amount, '0') as decimal(18, 2)) as {{ part }}_fee{% if not loop.last %},{% endif %}
        {%- endfor %}
    from source
)

select * from renamed
