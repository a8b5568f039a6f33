-- Days from invoice to paid (fct_invoices.days_to_pay) of the invoices dated in the period, by
-- month of invoice: the one cycle-time stage a company without sales orders still has.
select
    date_trunc('month', invoice_date)::date as invoice_month,
    count(days_to_pay) as n_invoices,
    quantile_cont(days_to_pay, 0.5) as median_days,
    quantile_cont(days_to_pay, 0.9) as p90_days
from marts.fct_invoices
where invoice_date between $date_from and $date_to
    and days_to_pay is not null
group by all
order by invoice_month
