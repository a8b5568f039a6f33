-- The audit trail of manual cash application in this build, newest entry first.
select
    entered_at,
    action_date,
    entered_by,
    action,
    payment_id,
    invoice_number,
    invoice_id,
    currency,
    entered_amount::double as entered_amount,
    outcome,
    amount_applied::double as amount_applied,
    outcome_reason,
    note
from marts.fct_cash_application_audit
order by entered_at desc, manual_application_id
limit 500
