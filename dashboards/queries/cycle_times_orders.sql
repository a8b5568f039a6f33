-- The slowest orders placed in the period, with their stage durations. The 20 are chosen
-- before the customer's name is joined, so only they are joined (not millions of orders).
with slowest as (
    select
        order_id,
        customer_id,
        segment,
        region,
        order_date,
        paid_date,
        days_order_to_ship,
        days_ship_to_invoice,
        days_invoice_to_paid,
        days_order_to_cash,
        terms_days,
        terms_variance_days
    from marts.fct_o2c_cycle_times
    where order_date between $date_from and $date_to
    order by days_order_to_cash desc nulls last, order_id
    limit 20
)

select
    slowest.order_id,
    customers.customer_name,
    slowest.segment,
    slowest.region,
    slowest.order_date,
    slowest.paid_date,
    slowest.days_order_to_ship,
    slowest.days_ship_to_invoice,
    slowest.days_invoice_to_paid,
    slowest.days_order_to_cash,
    slowest.terms_days,
    slowest.terms_variance_days
from slowest
left join marts.dim_customers as customers on slowest.customer_id = customers.customer_id
order by slowest.days_order_to_cash desc nulls last, slowest.order_id
