-- The customers with the most open AR as of a date (at most $limit), by aging bucket, for the
-- chosen filters; `customers` is how many customers have open items under those filters.
with open_items as (
    select
        aging.customer_id,
        customers.customer_name,
        customers.collector_name,
        aging.aging_bucket,
        aging.aging_bucket_order,
        aging.open_balance_rc
    from marts.fct_ar_aging as aging
    inner join marts.dim_customers as customers on aging.customer_id = customers.customer_id
    where aging.as_of_date = $as_of_date
        and (len($collectors::varchar[]) = 0 or list_contains($collectors::varchar[], customers.collector_name))
        and (len($regions::varchar[]) = 0 or list_contains($regions::varchar[], customers.region))
        and (len($segments::varchar[]) = 0 or list_contains($segments::varchar[], customers.segment))
        and (len($currencies::varchar[]) = 0 or list_contains($currencies::varchar[], aging.currency))
),

largest as (
    select
        customer_id,
        sum(open_balance_rc) as total,
        count(*) over () as customers
    from open_items
    group by customer_id
    order by total desc, customer_id
    limit $limit
)

select
    open_items.customer_id,
    open_items.customer_name,
    open_items.collector_name,
    open_items.aging_bucket,
    open_items.aging_bucket_order,
    sum(open_items.open_balance_rc)::double as open_ar_rc,
    any_value(largest.total)::double as total,
    any_value(largest.customers) as customers
from open_items
inner join largest on open_items.customer_id = largest.customer_id
group by all
order by total desc, open_items.customer_id, open_items.aging_bucket_order
