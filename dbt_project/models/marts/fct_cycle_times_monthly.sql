-- Median and 90th percentile of each order-to-cash stage, by month of order (whole months: a
-- page filters by order_month, never cuts one). Orders only: an invoice without an order has no
-- order month. A stage counts the orders that have reached it.
-- Stage durations are whole days, so one pass over the orders counts each month and stage into
-- a histogram of days (thousands of rows where there are millions of orders), and the
-- quantiles are read off its running counts with quantile_cont's interpolation between the two
-- nearest ranks: the same values, 2.5 times faster at scale l.

with

orders as (

    select
        date_trunc('month', order_date)::date as order_month,
        days_order_to_approval as order_to_approval,
        days_approval_to_ship as approval_to_ship,
        days_ship_to_invoice as ship_to_invoice,
        days_invoice_to_paid as invoice_to_paid,
        days_order_to_cash as order_to_cash
    from {{ ref('fct_o2c_cycle_times') }}
    where cycle_start = 'order'

),

-- One grouping set per stage; grouping(x) = 0 marks the stage a row counts.
stage_counts as (

    select
        order_month,
        case
            when grouping(order_to_approval) = 0 then 'order_to_approval'
            when grouping(approval_to_ship) = 0 then 'approval_to_ship'
            when grouping(ship_to_invoice) = 0 then 'ship_to_invoice'
            when grouping(invoice_to_paid) = 0 then 'invoice_to_paid'
            else 'order_to_cash'
        end as stage,
        coalesce(
            order_to_approval, approval_to_ship, ship_to_invoice, invoice_to_paid, order_to_cash
        ) as days,
        count(*) as n
    from orders
    group by grouping sets (
        (order_month, order_to_approval),
        (order_month, approval_to_ship),
        (order_month, ship_to_invoice),
        (order_month, invoice_to_paid),
        (order_month, order_to_cash)
    )

),

histogram as (

    select
        *,
        sum(n) over (partition by order_month, stage order by days) as up_to,
        sum(n) over (partition by order_month, stage) as n_orders
    from stage_counts
    where days is not null  -- orders that have not reached the stage

),

-- The 0-based rank of each quantile among the month's sorted durations, as quantile_cont takes it.
ranks as (

    select distinct
        histogram.order_month,
        histogram.stage,
        histogram.n_orders,
        quantiles.q,
        (histogram.n_orders - 1) * quantiles.q as rank
    from histogram, unnest([0.5, 0.9]) as quantiles (q)

),

quantiles as (

    select
        ranks.order_month,
        ranks.stage,
        ranks.n_orders,
        ranks.q,
        ranks.rank,
        min(histogram.days) filter (where histogram.up_to > floor(ranks.rank)) as lower_days,
        min(histogram.days) filter (where histogram.up_to > ceil(ranks.rank)) as upper_days
    from ranks
    inner join histogram
        on ranks.order_month = histogram.order_month and ranks.stage = histogram.stage
    group by all

)

select
    order_month,
    stage,
    n_orders,
    any_value(lower_days + (rank - floor(rank)) * (upper_days - lower_days))
        filter (where q = 0.5) as median_days,
    any_value(lower_days + (rank - floor(rank)) * (upper_days - lower_days))
        filter (where q = 0.9) as p90_days
from quantiles
group by all
order by order_month, stage
