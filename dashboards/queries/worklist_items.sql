-- A collector's worklist (fct_worklist_items: the items, their priority rank and the reason in
-- words, what is new since yesterday, the last action and the latest promise with its status),
-- first call first, with each item's predicted pay date. Customers without a collector are the
-- group 'unassigned' (queries/collectors.sql).
select
    items.priority_rank,
    items.invoice_id,
    items.customer_id,
    items.customer_name,
    items.currency,
    items.due_date,
    items.days_past_due,
    items.aging_bucket,
    items.open_balance,
    items.open_balance_rc,
    items.is_disputed,
    items.pct_paid_late,
    items.recovery_likelihood,
    -- the likelihood in percent, as the page shows it
    round(items.recovery_likelihood * 100, 1) as recovery_likelihood_pct,
    items.expected_recoverable_rc,
    items.priority,
    items.priority_reason,
    items.is_new_since_yesterday,
    items.new_since_yesterday,
    predictions.predicted_date as predicted_pay_date,
    items.last_action,
    items.last_action_date,
    items.promised_date,
    items.promised_amount,
    items.promise_status
from marts.fct_worklist_items as items
left join forecasts.pay_date_predictions as predictions on items.invoice_id = predictions.invoice_id
where items.collector_id = $collector_id
order by items.priority_rank
