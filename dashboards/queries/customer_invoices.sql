-- A customer's invoices, newest first, with the predicted pay date of the open ones.
select
    invoices.invoice_id,
    invoices.invoice_number,
    invoices.invoice_status,
    invoices.currency,
    invoices.invoice_date,
    invoices.due_date,
    invoices.invoice_amount::double as invoice_amount,
    invoices.open_balance::double as open_balance,
    invoices.open_balance_rc::double as open_balance_rc,
    invoices.paid_date,
    invoices.days_late,
    invoices.days_past_due,
    predictions.predicted_date as predicted_pay_date
from marts.fct_invoices as invoices
left join forecasts.pay_date_predictions as predictions on invoices.invoice_id = predictions.invoice_id
where invoices.customer_id = $customer_id
order by invoices.invoice_date desc, invoices.invoice_id
