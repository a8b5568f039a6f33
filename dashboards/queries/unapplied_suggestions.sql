-- Suggested matches for one receipt, best first.
select
    invoice_id,
    invoice_number,
    due_date,
    open_balance::double as open_balance,
    suggested_amount::double as suggested_amount,
    match_confidence::double as match_confidence,
    reason
from marts.fct_cash_application_suggestions
where payment_id = $payment_id
order by suggestion_rank, match_confidence desc, invoice_id
