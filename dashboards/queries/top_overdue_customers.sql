-- Customers with the most overdue AR now.
select
    customer_name,
    collector_name,
    segment,
    overdue_ar_rc::double as overdue_ar_rc,
    open_ar_rc::double as open_ar_rc,
    weighted_days_late
from marts.dim_customers
where overdue_ar_rc > 0
order by overdue_ar_rc desc, customer_name
limit $limit
