-- The customer's invoices open at the data's as-of date in the receipt's currency (to apply a
-- receipt to an invoice no rule suggested), oldest due first.
select
    aging.invoice_id,
    invoices.invoice_number,
    aging.due_date,
    aging.open_balance::double as open_balance
from marts.fct_ar_aging as aging
inner join marts.fct_invoices as invoices on aging.invoice_id = invoices.invoice_id
where aging.as_of_date = (select max(as_of_date) from marts.fct_ar_aging)
    and aging.customer_id = $customer_id
    and aging.currency = $currency
order by aging.due_date, aging.invoice_id
limit 200
