-- A customer's payments, newest first.
select
    payment_id,
    payment_date,
    payment_source,
    payment_method,
    payment_type,
    currency,
    amount::double as amount,
    applied_amount::double as applied_amount,
    unapplied_amount::double as unapplied_amount,
    n_invoices_applied,
    remittance_info
from marts.fct_payments
where customer_id = $customer_id
order by payment_date desc, payment_id
