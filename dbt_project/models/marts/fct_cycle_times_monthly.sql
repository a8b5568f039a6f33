-- Median and 90th percentile of each order-to-cash stage, by month of order (whole months: a
-- page filters by order_month, never cuts one). Orders only: an invoice without an order has no
-- order month. A stage counts the orders that have reached it.
-- Stage durations are whole days, so the orders are counted by month, stage and days into a
-- histogram (thousands of rows where there are millions of orders), and the quantiles are read
-- off its running counts with quantile_cont's interpolation between the two nearest ranks: the
-- same values as quantile_cont, 1.75 times faster on 3 million orders. (The stages are stacked
-- with union all rather than grouping sets, which sqlfluff cannot parse; as fast within 25 %.)

with

orders as (

    select
        cast(date_trunc('month', order_date) as date) as order_month,
        days_order_to_approval,
        days_approval_to_ship,
        days_ship_to_invoice,
        days_invoice_to_paid,
        days_order_to_cash
    from {{ ref('fct_o2c_cycle_times') }}
    where cycle_start = 'order'

),

-- One row per order and stage it has reached (a null duration: not reached yet).
stage_durations as (

    select
        order_month,
        'order_to_approval' as cycle_stage,
        days_order_to_approval as duration_days
    from orders

    union all
    select
        order_month,
        'approval_to_ship' as cycle_stage,
        days_approval_to_ship as duration_days
    from orders

    union all
    select
        order_month,
        'ship_to_invoice' as cycle_stage,
        days_ship_to_invoice as duration_days
    from orders

    union all
    select
        order_month,
        'invoice_to_paid' as cycle_stage,
        days_invoice_to_paid as duration_days
    from orders

    union all
    select
        order_month,
        'order_to_cash' as cycle_stage,
        days_order_to_cash as duration_days
    from orders

),

stage_counts as (

    select
        order_month,
        cycle_stage,
        duration_days,
        count(*) as n_at_duration
    from stage_durations
    where duration_days is not null
    group by order_month, cycle_stage, duration_days

),

histogram as (

    select
        *,
        sum(n_at_duration) over (partition by order_month, cycle_stage order by duration_days) as up_to,
        sum(n_at_duration) over (partition by order_month, cycle_stage) as n_orders
    from stage_counts

),

quantile_fractions as (

    select 0.5 as q
    union all
    select 0.9 as q

),

-- The 0-based rank of each quantile among the month's sorted durations, as quantile_cont takes it.
ranks as (

    select distinct
        histogram.order_month,
        histogram.cycle_stage,
        histogram.n_orders,
        quantiles.q,
        (histogram.n_orders - 1) * quantiles.q as rank
    from histogram
    cross join quantile_fractions as quantiles

),

quantiles as (

    select
        ranks.order_month,
        ranks.cycle_stage,
        ranks.n_orders,
        ranks.q,
        ranks.rank,
        min(histogram.duration_days) filter (where histogram.up_to > floor(ranks.rank)) as lower_days,
        min(histogram.duration_days) filter (where histogram.up_to > ceil(ranks.rank)) as upper_days
    from ranks
    inner join histogram
        on ranks.order_month = histogram.order_month and ranks.cycle_stage = histogram.cycle_stage
    group by all

),

interpolated as (

    select
        *,
        lower_days + (rank - floor(rank)) * (upper_days - lower_days) as interpolated_days
    from quantiles

)

select
    order_month,
    cycle_stage,
    n_orders,
    any_value(interpolated_days) filter (where q = 0.5) as median_days,
    any_value(interpolated_days) filter (where q = 0.9) as p90_days
from interpolated
group by all
order by order_month, cycle_stage
