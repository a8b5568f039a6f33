-- The daily activity series the revenue forecast is fitted on and scored against, their one home:
-- invoiced revenue (every invoice, reporting currency), order intake (orders not cancelled,
-- reporting currency) and the count of those orders, one row per series and day with activity.

with

invoiced as (

    select
        'invoiced_revenue_rc' as series,
        invoice_date as activity_date,
        cast(sum(invoice_amount_rc) as double) as activity_value
    from {{ ref('fct_invoices') }}
    group by invoice_date

),

orders as (

    select
        order_date,
        order_amount_rc
    from {{ ref('fct_orders') }}
    where not is_cancelled

),

order_intake as (

    select
        'order_intake_rc' as series,
        order_date as activity_date,
        cast(sum(order_amount_rc) as double) as activity_value
    from orders
    group by order_date

),

order_count as (

    select
        'orders' as series,
        order_date as activity_date,
        cast(count(*) as double) as activity_value
    from orders
    group by order_date

)

select * from invoiced
union all
select * from order_intake
union all
select * from order_count
