-- Invoices in their document currency. A voided invoice keeps its Id and DocNumber with a total of
-- 0 and the note "Voided" (QuickBooks' void); it is kept here, flagged, for the error-rate KPI.
with source as (
    select * from {{ source('quickbooks', 'invoice') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        id as invoice_id,
        doc_number,
        customer_ref__value as customer_id,
        customer_ref__name as customer_name,
        {{ qbo_header_columns(source('quickbooks', 'invoice')) }},
        cast(due_date as date) as due_date,
        cast(total_amt as decimal(18, 2)) as total_amount,
        cast(balance as decimal(18, 2)) as balance,
        cast(coalesce(txn_tax_detail__total_tax, 0) as decimal(18, 2)) as total_tax,
        case when total_amt = 0 and lower(coalesce(private_note, '')) like '%void%' then true else false end
            as is_voided,
        cast(sync_token as {{ dbt.type_int() }}) as sync_token
    from source
)

select * from renamed
