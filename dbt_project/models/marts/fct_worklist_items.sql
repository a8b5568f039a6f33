-- The collections worklist, the one home of its priority: every item open at the data's as-of
-- date that is overdue or due within a week (days past due > -7), with the collector who works
-- it ('unassigned' for customers without one) and its priority, the worklist's order.
-- Priority = open balance in the reporting currency × days past due (at least 1) × risk, where
-- risk = 1 + the customer's share of invoices paid late (0–1) + 0.5 when the item is disputed.

with

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

aging as (

    select
        aging.as_of_date,
        aging.invoice_id,
        aging.customer_id,
        aging.currency,
        aging.due_date,
        aging.days_past_due,
        aging.aging_bucket,
        aging.open_balance,
        aging.open_balance_rc
    from {{ ref('fct_ar_aging') }} as aging
    inner join as_of on aging.as_of_date = as_of.as_of_date
    where aging.days_past_due > -7

),

customers as (

    select
        customer_id,
        customer_name,
        collector_id,
        pct_paid_late
    from {{ ref('dim_customers') }}

),

-- open disputes (as fct_invoices.is_disputed): a few percent of invoices
open_disputes as (

    select distinct invoice_id
    from {{ ref('fct_disputes') }}
    where is_open

),

items as (

    select
        aging.invoice_id,
        aging.customer_id,
        customers.customer_name,
        coalesce(customers.collector_id, 'unassigned') as collector_id,
        aging.as_of_date,
        aging.currency,
        aging.due_date,
        aging.days_past_due,
        aging.aging_bucket,
        aging.open_balance,
        aging.open_balance_rc,
        open_disputes.invoice_id is not null as is_disputed,
        coalesce(customers.pct_paid_late, 0) as pct_paid_late
    from aging
    inner join customers on aging.customer_id = customers.customer_id
    left join open_disputes on aging.invoice_id = open_disputes.invoice_id

)

select
    invoice_id,
    customer_id,
    customer_name,
    collector_id,
    as_of_date,
    currency,
    due_date,
    days_past_due,
    aging_bucket,
    open_balance,
    open_balance_rc,
    is_disputed,
    pct_paid_late,
    cast(open_balance_rc as double)
    * greatest(days_past_due, 1)
    * (1 + pct_paid_late / 100 + case when is_disputed then 0.5 else 0 end) as priority
from items
order by collector_id asc, priority desc, invoice_id asc
