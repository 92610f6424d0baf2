-- Every revaluation row adds up: revalued = balance_original × closing_rate to the cent;
-- unrealised gain/loss = revalued − carrying; the change = gain/loss − the previous month end's;
-- the proposed entry moves |gain/loss| between the item's account and exchange gain or loss, with
-- the item's account debited for a gain (credited for a loss) and reversed the next day.
with revaluation as (
    select * from {{ ref('fx_revaluation') }}
),

fx_account as (
    select max(account_id) as fx_account_id from {{ ref('dim_accounts') }}
    where account_sub_type = 'ExchangeGainOrLoss'
)

select revaluation.*
from revaluation
cross join fx_account
where abs(revaluation.balance_original * revaluation.closing_rate - revaluation.revalued_amount_functional) > 0.005
    or revaluation.unrealised_gain_loss
        <> revaluation.revalued_amount_functional - revaluation.carrying_amount_functional
    or revaluation.unrealised_gain_loss_change
        <> revaluation.unrealised_gain_loss - revaluation.previous_unrealised_gain_loss
    or revaluation.proposed_amount <> abs(revaluation.unrealised_gain_loss)
    or (revaluation.unrealised_gain_loss > 0 and not (
        revaluation.proposed_debit_account_id = revaluation.account_id
        and revaluation.proposed_credit_account_id = fx_account.fx_account_id))
    or (revaluation.unrealised_gain_loss < 0 and not (
        revaluation.proposed_debit_account_id = fx_account.fx_account_id
        and revaluation.proposed_credit_account_id = revaluation.account_id))
    or revaluation.proposed_reversal_date <> {{ dbt.dateadd('day', '1', 'revaluation.month_end') }}
    or revaluation.closing_rate is null or revaluation.closing_rate <= 0
