-- Open AR by aging bucket at every aging snapshot (month-ends and today).
select
    as_of_date,
    aging_bucket,
    aging_bucket_order,
    sum(open_balance_rc)::double as open_balance_rc
from marts.fct_ar_aging
group by all
order by as_of_date, aging_bucket_order
