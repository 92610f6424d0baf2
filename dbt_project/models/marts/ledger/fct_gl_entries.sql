-- Every general ledger line in double entry, in the functional currency, with the source it came
-- from: the QuickBooks document (source_system, source_record_id) and, for entries the integration
-- booked, the record in the originating system (source_link).
with lines as (
    select * from {{ ref('int_gl_lines_derived') }}
),

accounts as (
    select * from {{ ref('dim_accounts') }}
),

final as (
    select
        lines.entry_id,
        lines.line_id,
        lines.posted_date,
        lines.account_id,
        accounts.account_name,
        accounts.classification,
        lines.debit,
        lines.credit,
        lines.currency,
        lines.amount_txn,
        lines.exchange_rate,
        cast(lines.debit - lines.credit as decimal(18, 2)) as amount_functional,
        'quickbooks' as source_system,
        lines.transaction_id as source_record_id,
        lines.entity as source_entity,
        lines.source_link,
        not lines.is_integration as is_manual,
        lines.private_note,
        lines.created_at,
        lines.description
    from lines
    left join accounts on accounts.account_id = lines.account_id
)

select * from final
