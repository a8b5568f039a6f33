-- Every customer, for pickers.
select customer_id, customer_name
from marts.dim_customers
order by customer_name
