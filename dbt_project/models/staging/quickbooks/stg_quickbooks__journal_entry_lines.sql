with lines as (
    select * from {{ source('quickbooks', 'journal_entry__line') }}
),

entries as (
    select id as journal_entry_id, _dlt_id from {{ source('quickbooks', 'journal_entry') }}
    where {{ qbo_live() }}
),

renamed as (
    select
        entries.journal_entry_id,
        lines.id as line_id,
        lines.description,
        cast(lines.amount as decimal(18, 2)) as amount,
        lines.journal_entry_line_detail__posting_type as posting_type,
        lines.journal_entry_line_detail__account_ref__value as account_id
    from lines
    inner join entries on lines._dlt_parent_id = entries._dlt_id
    where lines.detail_type = 'JournalEntryLineDetail'
)

select * from renamed
