-- The collections worklist, the one home of its priority: every item open at the data's as-of
-- date that is overdue or due within a week (days past due > -7), with the collector who works
-- it ('unassigned' for customers without one) and its priority, the worklist's order.
-- Priority = open balance in the reporting currency × days past due (at least 1) × risk, where
-- risk = 1 + the customer's share of invoices paid late (0–1) + 0.5 when the item is disputed.
-- Each item also shows the collectors' last action on it and its latest promise to pay with that
-- promise's status (fct_collection_actions, the one home of the kept / broken / pending rule).

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

last_actions as (

    select
        invoice_id,
        action_type as last_action,
        action_date as last_action_date
    from {{ ref('fct_collection_actions') }}
    where is_last_action_on_invoice

),

latest_promises as (

    select
        invoice_id,
        promised_date,
        promised_amount,
        promise_status
    from {{ ref('fct_collection_actions') }}
    where is_latest_promise

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
        coalesce(customers.pct_paid_late, 0) as pct_paid_late,
        last_actions.last_action,
        last_actions.last_action_date,
        latest_promises.promised_date,
        latest_promises.promised_amount,
        latest_promises.promise_status
    from aging
    inner join customers on aging.customer_id = customers.customer_id
    left join open_disputes on aging.invoice_id = open_disputes.invoice_id
    left join last_actions on aging.invoice_id = last_actions.invoice_id
    left join latest_promises on aging.invoice_id = latest_promises.invoice_id

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
    * (1 + pct_paid_late / 100 + case when is_disputed then 0.5 else 0 end) as priority,
    last_action,
    last_action_date,
    promised_date,
    promised_amount,
    promise_status
from items
order by collector_id asc, priority desc, invoice_id asc
