-- What one payment is applied to in this build (any method): what a reversal can take back;
-- manual applications first (the likeliest to be taken back), then by date.
select
    applications.invoice_id,
    invoices.invoice_number,
    applications.match_method,
    applications.match_confidence::double as match_confidence,
    applications.applied_amount::double as applied_amount,
    applications.applied_date
from marts.fct_cash_applications as applications
inner join marts.fct_invoices as invoices on applications.invoice_id = invoices.invoice_id
where applications.payment_id = $payment_id
order by applications.match_method = 'manual' desc, applications.applied_date, applications.invoice_id
