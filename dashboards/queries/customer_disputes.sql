-- A customer's disputes, newest first.
select
    dispute_id,
    invoice_id,
    opened_date,
    reason,
    dispute_status,
    resolved_date,
    currency,
    disputed_amount::double as disputed_amount,
    days_open
from marts.fct_disputes
where customer_id = $customer_id
order by opened_date desc, dispute_id
