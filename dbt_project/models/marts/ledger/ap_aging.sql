-- Open payables at the ledger's latest day, by vendor and bucket of days past due.
with bills as (
    select * from {{ ref('fct_bills') }} where amount_open <> 0
),

as_of as (
    select max(posted_date) as as_of_date from {{ ref('fct_gl_entries') }}
),

final as (
    select
        as_of.as_of_date,
        bills.bill_id,
        bills.vendor_id,
        bills.vendor_name,
        bills.bill_date,
        bills.due_date,
        bills.currency,
        bills.amount_open,
        bills.amount_open_functional,
        {{ dbt.datediff('bills.due_date', 'as_of.as_of_date', 'day') }} as days_past_due,
        {{ aging_bucket('bills.due_date', 'as_of.as_of_date') }} as aging_bucket
    from bills
    cross join as_of
)

select * from final
