-- How many shipped orders placed in the period took each number of days from order to first
-- shipment, and to their latest shipment.
select
    days,
    count(*) filter (where measure = 'first') as n_orders_first_shipment,
    count(*) filter (where measure = 'last') as n_orders_last_shipment
from (
    select days_order_to_first_shipment as days, 'first' as measure
    from marts.fct_order_fulfilment
    where order_date between $date_from and $date_to
    union all
    select days_order_to_last_shipment, 'last'
    from marts.fct_order_fulfilment
    where order_date between $date_from and $date_to
) as durations
where days is not null
group by days
order by days
