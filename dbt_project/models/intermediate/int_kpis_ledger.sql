-- Ledger KPIs per month of the documents' transaction date (definitions in docs/decisions.md):
--   manual_entry_share   hand-keyed documents / all documents (hand-keyed = no integration marker)
--   manual_entry_hours   Σ minutes per hand-keyed document (seed manual_entry_minutes) / 60
--   invoice_error_rate   invoices voided / invoices issued and standing (not voided)
--   close_duration_days  business days from month end to the creation of the last posting dated in the
--                        month, for months the ledger has closed (a month-end adjusting entry is posted)
--   audit_trail_coverage GL lines whose document has a source chain (marts.audit_trail) / all GL lines
--   duplicate_payments_count / _value  bill payments that repeat an earlier one for the same amount and
--                        the same reference (the paying bank line's text, else the note) within the window,
--                        to the same resolved vendor (int_vendors_resolved) or, when both references are
--                        bank texts, under any vendor the ledger keyed; functional currency
{%- set window_days = 7 %}
with postings as (
    select distinct source_entity, source_record_id, posted_date, created_at
    from {{ ref('fct_gl_entries') }}
),

documents as (
    -- every document standing in the ledger, voided invoices included (keying them was work too)
    {%- for entity, model, id in [
        ('Invoice', 'stg_quickbooks__invoices', 'invoice_id'),
        ('Payment', 'stg_quickbooks__payments', 'payment_id'),
        ('Bill', 'stg_quickbooks__bills', 'bill_id'),
        ('BillPayment', 'stg_quickbooks__bill_payments', 'bill_payment_id'),
        ('Deposit', 'stg_quickbooks__deposits', 'deposit_id'),
        ('JournalEntry', 'stg_quickbooks__journal_entries', 'journal_entry_id')] %}
    select '{{ entity }}' as source_entity, {{ id }} as source_record_id, transaction_date as posted_date,
        not is_integration as is_manual, created_at
    from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

closed_months as (
    select distinct cast({{ dbt.date_trunc('month', 'transaction_date') }} as date) as month
    from {{ ref('stg_quickbooks__journal_entries') }}
    where is_adjustment
        and transaction_date = cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, dbt.date_trunc('month', 'transaction_date'))) }} as date)
),

last_postings as (
    select cast({{ dbt.date_trunc('month', 'posted_date') }} as date) as month, max(created_at) as last_created_at
    from postings
    group by 1
),

minutes as (
    select * from {{ ref('manual_entry_minutes') }}
),

by_month as (
    select
        cast({{ dbt.date_trunc('month', 'documents.posted_date') }} as date) as month,
        count(*) as documents,
        sum(case when documents.is_manual then 1 else 0 end) as manual_documents,
        sum(case when documents.is_manual then coalesce(minutes.minutes, 0) else 0 end) as manual_minutes
    from documents
    left join minutes on minutes.source_entity = documents.source_entity
    group by 1
),

invoices as (
    select
        cast({{ dbt.date_trunc('month', 'issue_date') }} as date) as month,
        sum(case when is_voided then 1 else 0 end) as voided,
        sum(case when is_voided then 0 else 1 end) as standing
    from {{ ref('fct_invoices') }}
    group by 1
),

bill_payment_refs as (
    -- what the payment says it pays: the paying bank line's text when the bank reconciliation found
    -- it, else the ledger note; letters and digits only
    select
        payments.bill_payment_id,
        upper(regexp_replace(coalesce(bank.remittance_info, payments.private_note, ''), '[^A-Za-z0-9]', '', 'g'))
            as reference,
        bank.bank_transaction_id is not null as reference_is_bank_text
    from {{ ref('stg_quickbooks__bill_payments') }} as payments
    left join {{ ref('int_bank_lines_booked') }} as booked on booked.entry_id = 'BillPayment:' || payments.bill_payment_id
    left join {{ ref('fct_bank_transactions') }} as bank on bank.bank_transaction_id = booked.bank_transaction_id
),

bill_payments as (
    select
        p.bill_payment_id,
        p.transaction_date,
        p.total_amount,
        {{ round_money("p.total_amount * p.exchange_rate") }} as amount_functional,
        p.currency,
        -- the resolved vendor (aliases like "AWS" and "Amazon Web Services" are one), else the name
        coalesce(resolved.vendor_key, {{ normalise_vendor_name('p.vendor_name') }}) as vendor_key,
        refs.reference,
        coalesce(refs.reference_is_bank_text, false) as reference_is_bank_text
    from {{ ref('stg_quickbooks__bill_payments') }} as p
    left join bill_payment_refs as refs on refs.bill_payment_id = p.bill_payment_id
    left join (
        select qbo_vendor_id, min(vendor_key) as vendor_key
        from {{ ref('int_vendors_resolved') }}
        where qbo_vendor_id is not null
        group by qbo_vendor_id
    ) as resolved on resolved.qbo_vendor_id = p.vendor_id
),

duplicates as (
    -- the same amount and reference (the same invoice paid again) within the window, to the same
    -- vendor, or to whatever vendor the ledger keyed when both left the bank under the same
    -- descriptor (a repeat payment keyed under an ambiguous alias such as "Amazon.com, Inc.")
    select distinct later.bill_payment_id, later.transaction_date, later.amount_functional
    from bill_payments as later
    inner join bill_payments as earlier
        on (earlier.vendor_key = later.vendor_key
            or (earlier.reference_is_bank_text and later.reference_is_bank_text))
        and earlier.total_amount = later.total_amount
        and earlier.currency = later.currency
        and earlier.reference = later.reference
        and earlier.bill_payment_id <> later.bill_payment_id
        and (earlier.transaction_date < later.transaction_date
            or (earlier.transaction_date = later.transaction_date and earlier.bill_payment_id < later.bill_payment_id))
        and {{ dbt.datediff('earlier.transaction_date', 'later.transaction_date', 'day') }} <= {{ window_days }}
),

duplicates_by_month as (
    select
        cast({{ dbt.date_trunc('month', 'transaction_date') }} as date) as month,
        count(*) as duplicate_count,
        sum(amount_functional) as duplicate_value
    from duplicates
    group by 1
),

audit as (
    select
        cast({{ dbt.date_trunc('month', 'posted_date') }} as date) as month,
        sum(gl_lines) as lines,
        sum(case when has_source_chain then gl_lines else 0 end) as lines_with_chain
    from {{ ref('audit_trail') }}
    group by 1
),

final as (
    select month, 'audit_trail_coverage' as kpi,
        cast(lines_with_chain as {{ type_double() }}) / lines as value,
        cast(lines_with_chain as {{ type_double() }}) as numerator,
        cast(lines as {{ type_double() }}) as denominator
    from audit
    union all
    select month, 'manual_entry_share' as kpi,
        cast(manual_documents as {{ type_double() }}) / documents as value,
        cast(manual_documents as {{ type_double() }}) as numerator,
        cast(documents as {{ type_double() }}) as denominator
    from by_month
    union all
    select month, 'manual_entry_hours', cast(manual_minutes as {{ type_double() }}) / 60,
        cast(manual_minutes as {{ type_double() }}), cast(60 as {{ type_double() }})
    from by_month
    union all
    select last_postings.month, 'close_duration_days',
        cast({{ business_days_between(dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'last_postings.month')), 'cast(last_postings.last_created_at as date)') }} as {{ type_double() }}),
        cast(null as {{ type_double() }}), cast(null as {{ type_double() }})
    from last_postings
    inner join closed_months on closed_months.month = last_postings.month
    union all
    select month, 'invoice_error_rate',
        case when standing > 0 then cast(voided as {{ type_double() }}) / standing end,
        cast(voided as {{ type_double() }}), cast(standing as {{ type_double() }})
    from invoices
    union all
    select by_month.month, 'duplicate_payments_count',
        cast(coalesce(duplicates_by_month.duplicate_count, 0) as {{ type_double() }}),
        cast(coalesce(duplicates_by_month.duplicate_count, 0) as {{ type_double() }}),
        cast(null as {{ type_double() }})
    from by_month
    left join duplicates_by_month on duplicates_by_month.month = by_month.month
    union all
    select by_month.month, 'duplicate_payments_value',
        cast(coalesce(duplicates_by_month.duplicate_value, 0) as {{ type_double() }}),
        cast(coalesce(duplicates_by_month.duplicate_value, 0) as {{ type_double() }}),
        cast(null as {{ type_double() }})
    from by_month
    left join duplicates_by_month on duplicates_by_month.month = by_month.month
)

select * from final
