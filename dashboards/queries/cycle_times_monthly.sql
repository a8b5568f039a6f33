-- Median and 90th percentile of each order-to-cash stage by order month (fct_cycle_times_monthly),
-- for the whole months picked; the stage as the page shows it.
select
    order_month,
    replace(cycle_stage, '_', ' ') as stage,
    n_orders,
    median_days,
    p90_days
from marts.fct_cycle_times_monthly
where order_month between $date_from and $date_to
order by order_month, stage
