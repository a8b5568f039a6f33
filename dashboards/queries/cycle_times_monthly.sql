-- Median and 90th percentile of each order-to-cash stage, by month of order.
with stages as (
    unpivot (
        select
            date_trunc('month', order_date)::date as order_month,
            days_order_to_approval,
            days_approval_to_ship,
            days_ship_to_invoice,
            days_invoice_to_paid,
            days_order_to_cash
        from marts.fct_o2c_cycle_times
        where order_date between $date_from and $date_to
    )
    on days_order_to_approval, days_approval_to_ship, days_ship_to_invoice, days_invoice_to_paid, days_order_to_cash
    into name stage value days
)
select
    order_month,
    replace(replace(stage, 'days_', ''), '_', ' ') as stage,
    count(*) as n_orders,
    quantile_cont(days, 0.5) as median_days,
    quantile_cont(days, 0.9) as p90_days
from stages
group by all
order by order_month, stage
