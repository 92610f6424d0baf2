-- Every name a vendor goes by, normalised: one row per bank descriptor (the remittance text of
-- money-out lines, except transfers between our own accounts) and per QuickBooks vendor.
-- `currency` tells two billing relationships of one brand apart (AWS EMEA paid in EUR vs AWS US
-- in USD): the paying account's currency for a descriptor; for a QBO vendor the qualifier in its
-- name ("(EUR)"), else the one currency of its bills, else null (it may join any currency).
with bank_lines as (
    select * from {{ ref('fct_bank_transactions') }}
),

transfers as (
    select out_transaction_id as bank_transaction_id from {{ ref('int_transfers_matched') }}
),

qbo_vendors as (
    select * from {{ source('entities_quickbooks', 'vendor') }}
),

qbo_bills as (
    select * from {{ source('entities_quickbooks', 'bill') }}
),

vendor_payments as (
    select bank_lines.*
    from bank_lines
    left join transfers on transfers.bank_transaction_id = bank_lines.bank_transaction_id
    where bank_lines.amount < 0
        and transfers.bank_transaction_id is null
        and coalesce(bank_lines.remittance_info, bank_lines.counterparty_name) is not null
),

descriptors as (
    select
        source_system as source,
        coalesce(remittance_info, counterparty_name) as source_id,
        max(counterparty_name) as merchant_name,
        min(currency) as currency,
        count(*) as payment_count,
        -sum(amount) as amount_paid,
        min(booking_date) as first_seen,
        max(booking_date) as last_seen
    from vendor_payments
    group by 1, 2
),

bill_currencies as (
    select
        {{ as_text('vendor_ref__value') }} as qbo_vendor_id,
        min(upper(currency_ref__value)) as currency,
        count(distinct upper(currency_ref__value)) as n_currencies,
        count(*) as bill_count,
        sum(cast(total_amt as decimal(18, 2))) as amount_billed,
        min(cast(txn_date as date)) as first_seen,
        max(cast(txn_date as date)) as last_seen
    from qbo_bills
    where not coalesce(_is_deleted, false)
    group by 1
),

qbo as (
    select
        cast('quickbooks' as {{ dbt.type_string() }}) as source,
        {{ as_text('qbo_vendors.id') }} as source_id,
        qbo_vendors.display_name as raw_name,
        cast(null as {{ dbt.type_string() }}) as merchant_name,
        coalesce(
            {{ entity_name_currency('qbo_vendors.display_name') }},
            case when bill_currencies.n_currencies = 1 then bill_currencies.currency end
        ) as currency,
        {{ as_text('qbo_vendors.id') }} as qbo_vendor_id,
        false as is_descriptor,
        coalesce(bill_currencies.bill_count, 0) as payment_count,
        coalesce(bill_currencies.amount_billed, 0) as amount_paid,
        bill_currencies.first_seen,
        bill_currencies.last_seen,
        {{ normalise_entity_name('qbo_vendors.display_name') }} as base_name
    from qbo_vendors
    left join bill_currencies on bill_currencies.qbo_vendor_id = {{ as_text('qbo_vendors.id') }}
    where not coalesce(qbo_vendors._is_deleted, false)
),

bank as (
    select
        source,
        source_id,
        source_id as raw_name,
        merchant_name,
        currency,
        cast(null as {{ dbt.type_string() }}) as qbo_vendor_id,
        true as is_descriptor,
        payment_count,
        amount_paid,
        first_seen,
        last_seen,
        {{ normalise_entity_name('source_id', is_descriptor=true) }} as base_name
    from descriptors
),

unioned as (
    select * from bank
    union all
    select * from qbo
),

members as (
    select
        source || ':' || source_id as member_id,
        unioned.*
    from unioned
    where base_name is not null
),

{#- A trailing reference code made of letters ("DELTA AIR BKRF", "WEWORK RVCG") has no digit
    to give it away. It shows as variation: one prefix, many last words that each occur once. -#}
descriptor_words as (
    select
        member_id,
        base_name,
        {{ dbt.length('base_name') }} - {{ dbt.length("replace(base_name, ' ', '')") }} + 1 as n_words
    from members
    where is_descriptor
),

last_words as (
    select
        member_id,
        split_part(base_name, ' ', cast(n_words as integer)) as last_word,
        n_words,
        base_name
    from descriptor_words
    where n_words >= 2
),

last_word_frequency as (
    select descriptor_words.member_id, split_part(descriptor_words.base_name, ' ', cast(positions.position as integer)) as word
    from descriptor_words
    cross join (
        {%- for n in range(1, 13) %}
        select {{ n }} as position{% if not loop.last %} union all{% endif %}
        {%- endfor %}
    ) as positions
    where positions.position <= descriptor_words.n_words
),

word_counts as (
    select word, count(distinct member_id) as n_descriptors from last_word_frequency group by word
),

code_candidates as (
    select
        last_words.member_id,
        trim(substr(last_words.base_name, 1, {{ dbt.length('last_words.base_name') }} - {{ dbt.length('last_words.last_word') }})) as prefix
    from last_words
    inner join word_counts on word_counts.word = last_words.last_word
    where word_counts.n_descriptors = 1 and {{ dbt.length('last_words.last_word') }} <= 4
),

varying_prefixes as (
    select prefix from code_candidates group by prefix having count(*) >= 2
),

rebuilt as (
    select code_candidates.member_id, code_candidates.prefix as normalised_name
    from code_candidates
    inner join varying_prefixes on varying_prefixes.prefix = code_candidates.prefix
),

final as (
    select
        members.member_id,
        members.source,
        members.source_id,
        members.raw_name,
        members.merchant_name,
        coalesce(rebuilt.normalised_name, members.base_name) as normalised_name,
        {{ normalise_entity_name('members.merchant_name') }} as normalised_merchant_name,
        members.currency,
        members.qbo_vendor_id,
        members.is_descriptor,
        members.payment_count,
        cast(members.amount_paid as decimal(18, 2)) as amount_paid,
        members.first_seen,
        members.last_seen
    from members
    left join rebuilt on rebuilt.member_id = members.member_id
)

select * from final
