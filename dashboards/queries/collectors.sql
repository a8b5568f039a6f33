-- Collectors who own at least one customer.
select distinct collector_id, collector_name
from marts.dim_customers
where collector_id is not null
order by collector_name
