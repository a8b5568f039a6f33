-- Order and invoice quality by month (OTIF, perfect orders and processing times by order month,
-- invoice accuracy by invoice month), for the months the period touches.
select
    month_start,
    n_orders,
    n_otif_measured,
    otif_pct,
    on_time_pct,
    in_full_pct,
    perfect_order_pct,
    days_to_ship_p50,
    days_to_ship_p90,
    days_to_ship_mean,
    days_to_last_ship_p50,
    days_to_last_ship_p90,
    n_invoices,
    n_accurate_invoices,
    invoice_accuracy_pct
from marts.fct_order_quality_monthly
where month_start between date_trunc('month', $date_from::date) and $date_to
order by month_start
