-- Open AR by aging bucket as of a date, for the chosen filters (an empty list = all).
select
    aging.aging_bucket,
    aging.aging_bucket_order,
    sum(aging.open_balance_rc)::double as open_ar_rc,
    count(*) as invoices
from marts.fct_ar_aging as aging
inner join marts.dim_customers as customers on aging.customer_id = customers.customer_id
where aging.as_of_date = $as_of_date
    and (len($collectors::varchar[]) = 0 or list_contains($collectors::varchar[], customers.collector_name))
    and (len($regions::varchar[]) = 0 or list_contains($regions::varchar[], customers.region))
    and (len($segments::varchar[]) = 0 or list_contains($segments::varchar[], customers.segment))
    and (len($currencies::varchar[]) = 0 or list_contains($currencies::varchar[], aging.currency))
group by all
order by aging.aging_bucket_order
