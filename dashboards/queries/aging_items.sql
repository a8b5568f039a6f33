-- Open items as of a date, with their customer, for the chosen filters (an empty list = all)
-- and one customer, or all when $customer_id is null.
select
    aging.customer_id,
    customers.customer_name,
    customers.collector_name,
    customers.region,
    customers.segment,
    aging.currency,
    aging.invoice_id,
    aging.invoice_date,
    aging.due_date,
    aging.days_past_due,
    aging.aging_bucket,
    aging.aging_bucket_order,
    aging.open_balance::double as open_balance,
    aging.open_balance_rc::double as open_balance_rc
from marts.fct_ar_aging as aging
inner join marts.dim_customers as customers on aging.customer_id = customers.customer_id
where aging.as_of_date = $as_of_date
    and ($customer_id::varchar is null or aging.customer_id = $customer_id::varchar)
    and (len($collectors::varchar[]) = 0 or list_contains($collectors::varchar[], customers.collector_name))
    and (len($regions::varchar[]) = 0 or list_contains($regions::varchar[], customers.region))
    and (len($segments::varchar[]) = 0 or list_contains($segments::varchar[], customers.segment))
    and (len($currencies::varchar[]) = 0 or list_contains($currencies::varchar[], aging.currency))
order by aging.aging_bucket_order desc, aging.open_balance_rc desc, aging.invoice_id
