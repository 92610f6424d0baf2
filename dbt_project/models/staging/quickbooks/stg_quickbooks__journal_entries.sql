with source as (
    select * from {{ source('quickbooks', 'journal_entry') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        id as journal_entry_id,
        doc_number,
        {{ qbo_header_columns(source('quickbooks', 'journal_entry')) }},
        cast(coalesce(adjustment, false) as boolean) as is_adjustment
    from source
)

select * from renamed
