-- The chart of accounts, with the statement each account reports in and its normal balance.
with accounts as (
    select * from {{ ref('stg_quickbooks__accounts') }}
),

final as (
    select
        account_id,
        account_name,
        fully_qualified_name,
        classification,
        account_type,
        account_sub_type,
        currency,
        is_active,
        case when classification in ('Revenue', 'Expense') then 'profit_and_loss' else 'balance_sheet' end
            as statement,
        case when classification in ('Asset', 'Expense') then 'debit' else 'credit' end as normal_balance,
        'quickbooks' as source_system
    from accounts
)

select * from final
