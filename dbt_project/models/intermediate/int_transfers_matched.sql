-- Transfers between the company's own accounts (e.g. an FX conversion USD -> EUR): the money out
-- of one account <-> the money into another, paired by the shared transfer reference in both texts
-- ("... REF FX20250001"). The ratio of the two amounts is the realised rate.
with lines as (
    select
        bank_transaction_id,
        account_id,
        booking_date,
        amount,
        currency,
        upper(coalesce(remittance_info, '')) as text
    from {{ ref('fct_bank_transactions') }}
),

referenced as (
    select
        lines.*,
        trim({{ dbt.split_part('text', "' REF '", 2) }}) as transfer_ref
    from lines
    where text like '% REF %' and (text like '%TRANSFER%' or text like '%CONVERSION%' or text like '%FX%')
),

outgoing as (
    select * from referenced where amount < 0 and transfer_ref <> ''
),

incoming as (
    select * from referenced where amount > 0 and transfer_ref <> ''
),

pairs as (
    select
        outgoing.bank_transaction_id as out_transaction_id,
        incoming.bank_transaction_id as in_transaction_id,
        outgoing.transfer_ref,
        outgoing.amount as out_amount,
        outgoing.currency as out_currency,
        incoming.amount as in_amount,
        incoming.currency as in_currency,
        {{ dbt.datediff('outgoing.booking_date', 'incoming.booking_date', 'day') }} as days_apart,
        count(*) over (partition by outgoing.bank_transaction_id) as ins_for_out,
        count(*) over (partition by incoming.bank_transaction_id) as outs_for_in
    from outgoing
    inner join incoming
        on outgoing.transfer_ref = incoming.transfer_ref
        and outgoing.account_id <> incoming.account_id
),

final as (
    select
        out_transaction_id,
        in_transaction_id,
        transfer_ref,
        'transfer_reference' as rule,
        cast(case when abs(days_apart) <= 3 then 1.0 else 0.8 end as {{ type_double() }}) as confidence,
        out_amount,
        out_currency,
        in_amount,
        in_currency,
        cast(in_amount / nullif(-out_amount, 0) as {{ type_double() }}) as realised_rate
    from pairs
    where ins_for_out = 1 and outs_for_in = 1
)

select * from final
