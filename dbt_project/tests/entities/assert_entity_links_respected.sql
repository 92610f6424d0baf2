-- Clustering keeps what linking decided: both ends of an accepted link of one currency (vendors)
-- or any accepted link (customers) share a key, and no vendor mixes two known currencies.
select 'vendor link split' as problem, l.link_id as ref
from {{ ref('int_vendor_links') }} as l
inner join {{ ref('int_vendors_resolved') }} as a on a.member_id = l.member_a
inner join {{ ref('int_vendors_resolved') }} as b on b.member_id = l.member_b
where l.is_accepted and l.currency_a = l.currency_b and a.vendor_key <> b.vendor_key

union all

select 'customer link split', l.link_id
from {{ ref('int_customer_links') }} as l
inner join {{ ref('int_customers_resolved') }} as a on a.member_id = l.member_a
inner join {{ ref('int_customers_resolved') }} as b on b.member_id = l.member_b
where l.is_accepted and a.customer_key <> b.customer_key

union all

select 'vendor mixes currencies', vendor_key
from {{ ref('int_vendors_resolved') }}
where member_currency is not null
group by vendor_key
having count(distinct member_currency) > 1
