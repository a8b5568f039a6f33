-- The customers with the most open AR as of a date (at most $limit), by aging bucket, for the
-- chosen filters; `customers` is how many customers have open items under those filters.
-- Open items are summed per customer and bucket before the customer attributes are joined:
-- at scale l that joins 300 k sums instead of 1.4 M items.
with by_bucket as (
    select
        customer_id,
        aging_bucket,
        aging_bucket_order,
        sum(open_balance_rc) as open_ar_rc
    from marts.fct_ar_aging
    where as_of_date = $as_of_date
        and (len($currencies::varchar[]) = 0 or list_contains($currencies::varchar[], currency))
    group by all
),

open_items as (
    select
        by_bucket.customer_id,
        customers.customer_name,
        customers.collector_name,
        by_bucket.aging_bucket,
        by_bucket.aging_bucket_order,
        by_bucket.open_ar_rc
    from by_bucket
    inner join marts.dim_customers as customers on by_bucket.customer_id = customers.customer_id
    where (len($collectors::varchar[]) = 0 or list_contains($collectors::varchar[], customers.collector_name))
        and (len($regions::varchar[]) = 0 or list_contains($regions::varchar[], customers.region))
        and (len($segments::varchar[]) = 0 or list_contains($segments::varchar[], customers.segment))
),

largest as (
    select
        customer_id,
        sum(open_ar_rc) as total,
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
    open_items.open_ar_rc::double as open_ar_rc,
    largest.total::double as total,
    largest.customers
from open_items
inner join largest on open_items.customer_id = largest.customer_id
order by total desc, open_items.customer_id, open_items.aging_bucket_order
