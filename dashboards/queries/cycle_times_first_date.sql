-- The first day a cycle starts (an order, or an invoice without one) or an invoice is dated:
-- where the month picker begins (the invoice-to-paid table reads invoices by invoice month).
select min(first_date) as first_date
from (
    select min(cycle_start_date) as first_date from marts.fct_o2c_cycle_times
    union all
    select min(invoice_date) from marts.fct_invoices
)
