-- One row per (not cancelled) order: how fast it shipped, whether it shipped on time and in full
-- (OTIF), and whether it was a perfect order (OTIF, every invoice accurate, no dispute at all).
-- On time: first shipment within `otif_ship_days` calendar days of credit approval, or of the
-- order date when no approval time is known; an order not shipped once that window has passed
-- is already late. In full: the order's first shipment was its only one and every line shipped
-- exactly the quantity ordered. Null means not known yet (not shipped, not invoiced) or not
-- measurable (the optional entity it needs was not loaded).

with

cycles as (

    -- the stage durations are computed once, in the cycle times
    select
        order_id,
        customer_id,
        order_date,
        credit_approved_date,
        first_shipment_date,
        days_order_to_ship,
        days_approval_to_ship
    from {{ ref('fct_o2c_cycle_times') }}
    where cycle_start = 'order'

),

orders as (

    select
        order_id,
        n_shipments,
        last_shipment_date
    from {{ ref('fct_orders') }}

),

lines as (

    select
        order_id,
        count(*) as n_lines,
        count(*) filter (where quantity_shipped != quantity) as n_lines_not_in_full
    from {{ ref('stg_erp__sales_order_lines') }}
    group by order_id

),

invoices as (

    select
        order_id,
        count(*) as n_invoices,
        bool_and(is_accurate) as is_invoice_accurate,
        sum(n_disputes) as n_disputes
    from {{ ref('fct_invoice_accuracy') }}
    where order_id is not null
    group by order_id

),

-- An optional entity a company does not have is an empty relation: what it feeds is unknown.
loaded as (

    select
        (select count(*) from {{ ref('stg_erp__sales_order_lines') }}) > 0 as lines_loaded,
        (
            select count(*) from orders
            where n_shipments > 0
        ) > 0 as shipments_loaded,
        coalesce((select bool_or(n_disputes is not null) from {{ ref('fct_invoice_accuracy') }}), false)
            as disputes_loaded

),

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

measured as (

    select
        cycles.order_id,
        cycles.customer_id,
        cycles.order_date,
        cast(date_trunc('month', cycles.order_date) as date) as order_month,
        cycles.credit_approved_date,
        coalesce(cycles.credit_approved_date, cycles.order_date) as ship_clock_start_date,
        cycles.first_shipment_date,
        orders.last_shipment_date,
        coalesce(orders.n_shipments, 0) as n_shipments,
        coalesce(lines.n_lines, 0) as n_lines,
        lines.n_lines_not_in_full,
        coalesce(invoices.n_invoices, 0) as n_invoices,
        invoices.n_disputes,
        cycles.days_order_to_ship as days_order_to_first_shipment,
        {{ days_between('cycles.order_date', 'orders.last_shipment_date') }}
            as days_order_to_last_shipment,
        coalesce(cycles.days_approval_to_ship, cycles.days_order_to_ship) as days_to_first_shipment,
        case
            when not loaded.shipments_loaded then null
            when cycles.first_shipment_date is not null
                then coalesce(cycles.days_approval_to_ship, cycles.days_order_to_ship) <= {{ var('otif_ship_days') }}
            -- not shipped yet: late once the window has passed, not known before
            when {{ days_between('coalesce(cycles.credit_approved_date, cycles.order_date)', 'as_of.as_of_date') }}
                > {{ var('otif_ship_days') }} then false
        end as is_on_time,
        case
            when not loaded.lines_loaded or cycles.first_shipment_date is null or lines.n_lines is null then null
            else orders.n_shipments = 1 and lines.n_lines_not_in_full = 0
        end as is_in_full,
        invoices.is_invoice_accurate,
        loaded.lines_loaded,
        loaded.shipments_loaded,
        loaded.disputes_loaded
    from cycles
    cross join loaded
    cross join as_of
    left join orders on cycles.order_id = orders.order_id
    left join lines on cycles.order_id = lines.order_id
    left join invoices on cycles.order_id = invoices.order_id

),

flagged as (

    select
        *,
        case when lines_loaded and shipments_loaded then is_on_time and is_in_full end as is_otif
    from measured

)

select
    -- ids
    order_id,
    customer_id,
    -- counts
    n_lines,
    n_lines_not_in_full,
    n_shipments,
    n_invoices,
    n_disputes,
    -- dates
    order_date,
    order_month,
    credit_approved_date,
    ship_clock_start_date,
    first_shipment_date,
    last_shipment_date,
    -- durations
    days_order_to_first_shipment,
    days_order_to_last_shipment,
    days_to_first_shipment,
    -- flags
    is_on_time,
    is_in_full,
    is_otif,
    is_invoice_accurate,
    case when disputes_loaded then is_otif and is_invoice_accurate and n_disputes = 0 end as is_perfect_order
from flagged
