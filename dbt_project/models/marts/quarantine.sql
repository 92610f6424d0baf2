{{ config(materialized='table') }}
-- Every input row that did not make it into a raw table, with the reason; one row per distinct
-- bad input (re-loading the same bad input does not add a row). The id is unique by construction:
-- each raw schema's rows are keyed by their schema and the loader's hash, and a key seen twice
-- keeps its first quarantine.
with quarantined as (
    {{ union_quarantine_tables() }}
),

keyed as (
    select
        {{ dbt.hash(dbt.concat(["raw_schema", "'|'", "coalesce(quarantine_id, '')"])) }} as quarantine_id,
        source,
        object,
        record_ref,
        reason,
        raw,
        loaded_at,
        raw_schema
    from quarantined
),

ranked as (
    select
        keyed.*,
        row_number() over (partition by quarantine_id order by loaded_at, record_ref) as occurrence
    from keyed
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
    from ranked
    where occurrence = 1
)

select * from final
