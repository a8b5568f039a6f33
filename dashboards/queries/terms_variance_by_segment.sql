-- How far payment lands from the agreed terms, by segment (days; positive = later than terms).
select
    segment,
    count(terms_variance_days) as n_orders_paid,
    avg(terms_variance_days) as mean_variance_days,
    quantile_cont(terms_variance_days, 0.5) as median_variance_days,
    quantile_cont(terms_variance_days, 0.9) as p90_variance_days
from marts.fct_o2c_cycle_times
where order_date between $date_from and $date_to
group by segment
order by segment
