-- The write-offs dated between $month_start and $period_end, largest first, with the customer.
select
    write_offs.write_off_date,
    customers.customer_name,
    write_offs.invoice_id,
    write_offs.reason,
    write_offs.days_past_due_at_write_off,
    write_offs.amount_rc::double as amount_rc
from marts.fct_write_offs as write_offs
left join marts.dim_customers as customers on write_offs.customer_id = customers.customer_id
where write_offs.write_off_date between $month_start and $period_end
order by write_offs.amount_rc desc, write_offs.credit_memo_id
