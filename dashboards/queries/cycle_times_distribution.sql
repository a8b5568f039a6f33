-- How many paid orders placed in the period took each number of days from order to cash.
select
    days_order_to_cash,
    count(*) as n_orders
from marts.fct_o2c_cycle_times
where order_date between $date_from and $date_to
    and days_order_to_cash is not null
group by days_order_to_cash
order by days_order_to_cash
