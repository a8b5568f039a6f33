-- One row per (not cancelled) order: how fast it shipped, whether it shipped on time and in full
-- (OTIF), and whether it was a perfect order (OTIF, every invoice accurate, no dispute at all).
-- On time: first shipment within `otif_ship_days` calendar days of credit approval, or of the
-- order date when no approval time is known; an order not shipped once that window has passed
-- is already late. In full: the order's first shipment was its only one and every line shipped
-- exactly the quantity ordered. Null means not known yet (not shipped, not invoiced) or not
-- measurable (the optional entity it needs was not loaded).
-- Incremental by loads, by order (macros/incremental_by_key.sql): a run rebuilds the orders
-- fct_orders wrote since (it rebuilds an order whose line, shipment or invoice arrived or left),
-- the orders of the invoices whose accuracy was written since, every order not shipped (late
-- once its window passes), every order when lines, shipments or disputes were loaded for the
-- first time or emptied, and the orders gone. On Spark the model is rebuilt whole.

{{ incremental_by_loads('order_id', 'built_at') }}

with

-- An optional entity a company does not have is an empty relation: what it feeds is unknown.
loaded as (

    select
        (select count(*) from {{ ref('stg_erp__sales_order_lines') }}) > 0 as lines_loaded,
        (
            select count(*) from {{ ref('fct_orders') }}
            where n_shipments > 0
        ) > 0 as shipments_loaded,
        coalesce((select bool_or(n_disputes is not null) from {{ ref('fct_invoice_accuracy') }}), false)
            as disputes_loaded

),

{% if is_incremental() %}
rebuilt as (

    -- an order's dates, customer, shipments and lines (what it reads of its cycle is its order's
    -- too: the cycle times rebuild every order fct_orders wrote, not fewer)
    select order_id from {{ ref('fct_orders') }}
    where {{ built_since_last_build() }}

    union

    select order_id from {{ ref('fct_invoice_accuracy') }}
    where {{ built_since_last_build() }} and order_id is not null

    union

    -- not shipped: late once the window has passed
    select order_id from {{ this }}
    where first_shipment_date is null and shipments_loaded

    union

    -- every order when lines, shipments or disputes were loaded for the first time or emptied
    select previous.order_id
    from {{ this }} as previous
    cross join loaded
    where previous.lines_loaded <> loaded.lines_loaded
        or previous.shipments_loaded <> loaded.shipments_loaded
        or previous.disputes_loaded <> loaded.disputes_loaded

    union

    {{ keys_gone('order_id', ref('fct_o2c_cycle_times'), now_where="cycle_start = 'order'") }}

),
{% endif %}

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
    {% if is_incremental() %}
    and order_id in (select rebuilt.order_id from rebuilt)
    {% endif %}

),

orders as (

    select
        order_id,
        n_shipments,
        last_shipment_date
    from {{ ref('fct_orders') }}
    {% if is_incremental() %}
    where order_id in (select rebuilt.order_id from rebuilt)
    {% endif %}

),

lines as (

    select
        order_id,
        count(*) as n_lines,
        count(*) filter (where quantity_shipped != quantity) as n_lines_not_in_full
    from {{ ref('stg_erp__sales_order_lines') }}
    {% if is_incremental() %}
    where order_id in (select rebuilt.order_id from rebuilt)
    {% endif %}
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
    {% if is_incremental() %}
    and order_id in (select rebuilt.order_id from rebuilt)
    {% endif %}
    group by order_id

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
    case when disputes_loaded then is_otif and is_invoice_accurate and n_disputes = 0 end as is_perfect_order,
    -- whether each optional entity was loaded (what it feeds is measurable)
    lines_loaded,
    shipments_loaded,
    disputes_loaded,
    -- bookkeeping
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from flagged
{% if is_incremental() %}
-- a tombstone per rebuilt order (macros/incremental_by_key.sql)
union all
select
    order_id,
    null as customer_id,
    null as n_lines,
    null as n_lines_not_in_full,
    null as n_shipments,
    null as n_invoices,
    null as n_disputes,
    null as order_date,
    null as order_month,
    null as credit_approved_date,
    null as ship_clock_start_date,
    null as first_shipment_date,
    null as last_shipment_date,
    null as days_order_to_first_shipment,
    null as days_order_to_last_shipment,
    null as days_to_first_shipment,
    null as is_on_time,
    null as is_in_full,
    null as is_otif,
    null as is_invoice_accurate,
    null as is_perfect_order,
    null as lines_loaded,
    null as shipments_loaded,
    null as disputes_loaded,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
