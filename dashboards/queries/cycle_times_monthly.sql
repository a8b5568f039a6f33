-- Median and 90th percentile of each order-to-cash stage, by month of order. Each stage's
-- quantiles come from one pass over its own column; unpivoting only the monthly results keeps
-- the query fast at millions of orders.
with monthly as (
    select
        date_trunc('month', order_date)::date as order_month,
        {'n': count(days_order_to_approval), 'q': quantile_cont(days_order_to_approval, [0.5, 0.9])}
            as order_to_approval,
        {'n': count(days_approval_to_ship), 'q': quantile_cont(days_approval_to_ship, [0.5, 0.9])}
            as approval_to_ship,
        {'n': count(days_ship_to_invoice), 'q': quantile_cont(days_ship_to_invoice, [0.5, 0.9])}
            as ship_to_invoice,
        {'n': count(days_invoice_to_paid), 'q': quantile_cont(days_invoice_to_paid, [0.5, 0.9])}
            as invoice_to_paid,
        {'n': count(days_order_to_cash), 'q': quantile_cont(days_order_to_cash, [0.5, 0.9])}
            as order_to_cash
    from marts.fct_o2c_cycle_times
    where order_date between $date_from and $date_to
    group by all
),

stages as (
    unpivot monthly
    on order_to_approval, approval_to_ship, ship_to_invoice, invoice_to_paid, order_to_cash
    into name stage value measures
)

select
    order_month,
    replace(stage, '_', ' ') as stage,
    measures.n as n_orders,
    measures.q[1] as median_days,
    measures.q[2] as p90_days
from stages
where measures.n > 0
order by order_month, stage
