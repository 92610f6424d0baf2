-- One row per Stripe dispute (chargeback), at its latest state loaded (list reads and the
-- charge.dispute.* events). Its money moves as balance transactions (source_id = dispute_id):
-- reporting_category `dispute` (the withdrawal, plus the dispute fee) and `dispute_reversal` (won).
{%- set text = dbt.type_string() %}
{%- set bigint = dbt.type_bigint() %}
with source as (
    {{ optional_raw('raw_stripe', 'disputes', {
        'id': text, 'charge': text, 'payment_intent': text, 'created': bigint, 'currency': text,
        'amount': bigint, 'reason': text, 'status': text, 'is_charge_refundable': dbt.type_boolean(),
        'evidence_details__due_by': bigint, 'evidence_details__has_evidence': dbt.type_boolean(),
        'evidence_details__submission_count': bigint}) }}
),

renamed as (
    select
        id as dispute_id,
        charge as charge_id,
        payment_intent as payment_intent_id,
        {{ epoch_to_timestamp('created') }} as created_at,
        upper(currency) as currency,
        {{ minor_to_major('amount', 'currency') }} as amount,
        reason,
        status,
        status in ('won', 'lost', 'warning_closed') as is_closed,
        cast(is_charge_refundable as boolean) as is_charge_refundable,
        {{ epoch_to_timestamp('evidence_details__due_by') }} as evidence_due_by,
        cast(evidence_details__has_evidence as boolean) as has_evidence,
        cast(evidence_details__submission_count as {{ dbt.type_int() }}) as evidence_submission_count
    from source
)

select * from renamed
