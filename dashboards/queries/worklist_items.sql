-- A collector's worklist: their customers' items overdue or due within a week, as of the data's
-- as-of date, most urgent first. Priority = open balance × days past due (at least 1) × risk,
-- risk = 1 + the customer's share of invoices paid late (0–1) + 0.5 when the item is disputed.
-- Customers without a collector are the group 'unassigned' (queries/collectors.sql).
with as_of as (
    select max(as_of_date) as as_of_date from marts.fct_ar_aging
),

-- Open disputes (as fct_invoices.is_disputed): a few percent of invoices, not all of them.
open_disputes as (
    select distinct invoice_id from marts.fct_disputes where is_open
)
select
    aging.invoice_id,
    aging.customer_id,
    customers.customer_name,
    aging.currency,
    aging.due_date,
    aging.days_past_due,
    aging.aging_bucket,
    aging.open_balance::double as open_balance,
    aging.open_balance_rc::double as open_balance_rc,
    open_disputes.invoice_id is not null as is_disputed,
    coalesce(customers.pct_paid_late, 0) as pct_paid_late,
    predictions.predicted_date as predicted_pay_date,
    aging.open_balance_rc::double
        * greatest(aging.days_past_due, 1)
        * (1 + coalesce(customers.pct_paid_late, 0) / 100 + case when open_disputes.invoice_id is not null then 0.5 else 0 end)
        as priority
from marts.fct_ar_aging as aging
inner join as_of on aging.as_of_date = as_of.as_of_date
inner join marts.dim_customers as customers on aging.customer_id = customers.customer_id
left join open_disputes on aging.invoice_id = open_disputes.invoice_id
left join forecasts.pay_date_predictions as predictions on aging.invoice_id = predictions.invoice_id
where coalesce(customers.collector_id, 'unassigned') = $collector_id
    and aging.days_past_due > -7
order by priority desc, aging.invoice_id
