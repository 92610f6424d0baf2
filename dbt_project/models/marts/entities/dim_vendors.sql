-- One row per resolved vendor: its names in every system, the ledger's vendor ids, the bank
-- descriptors it appears under, and what was paid. Grain: one vendor_key.
with members as (
    select * from {{ ref('int_vendors_resolved') }}
),

sources as (
    select distinct vendor_key, source from members
),

source_lists as (
    select vendor_key, {{ string_agg_ordered('source', ', ', 'source') }} as sources
    from sources
    group by vendor_key
),

qbo_ids as (
    select vendor_key, {{ string_agg_ordered('qbo_vendor_id', ', ', 'qbo_vendor_id') }} as qbo_vendor_ids
    from members
    where qbo_vendor_id is not null
    group by vendor_key
),

descriptor_lists as (
    select vendor_key, {{ string_agg_ordered('raw_name', ' | ', 'raw_name') }} as bank_descriptors
    from members
    where source <> 'quickbooks'
    group by vendor_key
),

totals as (
    select
        vendor_key,
        min(vendor_name) as vendor_name,
        min(canonical_normalised_name) as normalised_name,
        min(vendor_currency) as currency,
        count(*) as member_count,
        sum(case when source <> 'quickbooks' then 1 else 0 end) as descriptor_count,
        sum(case when source <> 'quickbooks' then payment_count else 0 end) as bank_payment_count,
        sum(case when source <> 'quickbooks' then amount_paid else 0 end) as total_paid,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen
    from members
    group by vendor_key
),

final as (
    select
        totals.vendor_key,
        totals.vendor_name,
        totals.normalised_name,
        totals.currency,
        totals.member_count,
        totals.descriptor_count,
        source_lists.sources,
        qbo_ids.qbo_vendor_ids,
        descriptor_lists.bank_descriptors,
        totals.bank_payment_count,
        cast(totals.total_paid as decimal(18, 2)) as total_paid,
        totals.first_seen,
        totals.last_seen
    from totals
    inner join source_lists on source_lists.vendor_key = totals.vendor_key
    left join qbo_ids on qbo_ids.vendor_key = totals.vendor_key
    left join descriptor_lists on descriptor_lists.vendor_key = totals.vendor_key
)

select * from final
