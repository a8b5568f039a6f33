-- Which of the ids $ids of one $kind ('customer', 'invoice' or 'payment') the connection's user
-- may see (dashboards/db.visible): on a collector's connection these tables hold only their
-- customers' rows (dashboards/scope.py).
select customer_id as id
from marts.dim_customers
where $kind = 'customer' and list_contains($ids::varchar[], customer_id)
union all
select invoice_id
from marts.fct_invoices
where $kind = 'invoice' and list_contains($ids::varchar[], invoice_id)
union all
select payment_id
from marts.fct_payments
where $kind = 'payment' and list_contains($ids::varchar[], payment_id)
