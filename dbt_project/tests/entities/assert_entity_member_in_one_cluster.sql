-- No vendor name or customer record belongs to two resolved entities.
select 'vendor' as entity, member_id, count(distinct vendor_key) as clusters
from {{ ref('int_vendors_resolved') }}
group by member_id
having count(distinct vendor_key) > 1

union all

select 'customer', member_id, count(distinct customer_key)
from {{ ref('int_customers_resolved') }}
group by member_id
having count(distinct customer_key) > 1
