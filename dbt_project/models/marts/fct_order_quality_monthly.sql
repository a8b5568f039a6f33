-- Order and invoice quality by month: on-time-in-full and perfect-order rates and order
-- processing times by order month, invoice accuracy by invoice month. Each rate is over the
-- orders (invoices) where it is known; it is null when nothing in the month is measurable.

with

orders as (

    select * from {{ ref('fct_order_fulfilment') }}

),

invoices as (

    select * from {{ ref('fct_invoice_accuracy') }}

),

by_order_month as (

    select
        order_month as month_start,
        count(*) as n_orders,
        count(first_shipment_date) as n_shipped_orders,
        count(*) filter (where is_on_time) as n_on_time,
        count(is_on_time) as n_on_time_measured,
        count(*) filter (where is_in_full) as n_in_full,
        count(is_in_full) as n_in_full_measured,
        count(*) filter (where is_otif) as n_otif,
        count(is_otif) as n_otif_measured,
        count(*) filter (where is_perfect_order) as n_perfect_orders,
        count(is_perfect_order) as n_perfect_measured,
        {{ continuous_quantile('days_order_to_first_shipment', 0.5) }} as days_to_ship_p50,
        {{ continuous_quantile('days_order_to_first_shipment', 0.9) }} as days_to_ship_p90,
        avg(days_order_to_first_shipment) as days_to_ship_mean,
        {{ continuous_quantile('days_order_to_last_shipment', 0.5) }} as days_to_last_ship_p50,
        {{ continuous_quantile('days_order_to_last_shipment', 0.9) }} as days_to_last_ship_p90
    from orders
    group by order_month

),

by_invoice_month as (

    select
        invoice_month as month_start,
        count(*) as n_invoices,
        count(*) filter (where is_accurate) as n_accurate_invoices,
        count(is_accurate) as n_accuracy_measured
    from invoices
    group by invoice_month

),

months as (

    select month_start from by_order_month
    union
    select month_start from by_invoice_month

)

select
    months.month_start,
    -- orders (by order month)
    coalesce(by_order_month.n_orders, 0) as n_orders,
    coalesce(by_order_month.n_shipped_orders, 0) as n_shipped_orders,
    coalesce(by_order_month.n_on_time, 0) as n_on_time,
    coalesce(by_order_month.n_in_full, 0) as n_in_full,
    coalesce(by_order_month.n_otif, 0) as n_otif,
    coalesce(by_order_month.n_otif_measured, 0) as n_otif_measured,
    coalesce(by_order_month.n_perfect_orders, 0) as n_perfect_orders,
    coalesce(by_order_month.n_perfect_measured, 0) as n_perfect_measured,
    {{ percent_of('by_order_month.n_on_time', 'by_order_month.n_on_time_measured', 2) }} as on_time_pct,
    {{ percent_of('by_order_month.n_in_full', 'by_order_month.n_in_full_measured', 2) }} as in_full_pct,
    {{ percent_of('by_order_month.n_otif', 'by_order_month.n_otif_measured', 2) }} as otif_pct,
    {{ percent_of('by_order_month.n_perfect_orders', 'by_order_month.n_perfect_measured', 2) }} as perfect_order_pct,
    round(by_order_month.days_to_ship_p50, 1) as days_to_ship_p50,
    round(by_order_month.days_to_ship_p90, 1) as days_to_ship_p90,
    round(by_order_month.days_to_ship_mean, 1) as days_to_ship_mean,
    round(by_order_month.days_to_last_ship_p50, 1) as days_to_last_ship_p50,
    round(by_order_month.days_to_last_ship_p90, 1) as days_to_last_ship_p90,
    -- invoices (by invoice month)
    coalesce(by_invoice_month.n_invoices, 0) as n_invoices,
    coalesce(by_invoice_month.n_accurate_invoices, 0) as n_accurate_invoices,
    {{ percent_of(
        'by_invoice_month.n_accurate_invoices', 'by_invoice_month.n_accuracy_measured', 2
    ) }} as invoice_accuracy_pct
from months
left join by_order_month on months.month_start = by_order_month.month_start
left join by_invoice_month on months.month_start = by_invoice_month.month_start
