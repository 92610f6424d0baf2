{{ config(materialized='table') }}
-- Every input row that did not make it into a raw table, with the reason; one row per distinct
-- bad input (re-loading the same bad input does not add a row).
with quarantined as (
    {{ union_quarantine_tables() }}
),

final as (
    select
        quarantine_id,
        source,
        object,
        record_ref,
        reason,
        raw,
        loaded_at
    from quarantined
)

select * from final
