-- The slowest orders placed in the period, with their stage durations.
select
    cycle.order_id,
    customers.customer_name,
    cycle.segment,
    cycle.region,
    cycle.order_date,
    cycle.paid_date,
    cycle.days_order_to_ship,
    cycle.days_ship_to_invoice,
    cycle.days_invoice_to_paid,
    cycle.days_order_to_cash,
    cycle.terms_days,
    cycle.terms_variance_days
from marts.fct_o2c_cycle_times as cycle
inner join marts.dim_customers as customers on cycle.customer_id = customers.customer_id
where cycle.order_date between $date_from and $date_to
order by cycle.days_order_to_cash desc nulls last, cycle.order_id
limit 20
