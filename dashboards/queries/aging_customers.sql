-- The customers with the most open AR as of any date (at most $limit), by aging bucket, for the
-- chosen filters; `customers` is how many customers have open items under those filters.
-- The open items are the balances valid on the date (marts.fct_open_item_balances), in the
-- bucket whose range of days past due holds them (marts.dim_aging_buckets). They are summed per
-- customer and bucket before the customer attributes are joined: at scale l that joins 300 k
-- sums instead of 1.4 M items.
with open_items as (
    select
        balances.customer_id,
        $as_of_date::date - balances.due_date as days_past_due,
        balances.open_balance_rc
    from marts.fct_open_item_balances as balances
    where balances.valid_from <= $as_of_date::date
        and balances.valid_to >= $as_of_date::date
        and (len($currencies::varchar[]) = 0 or list_contains($currencies::varchar[], balances.currency))
),

by_bucket as (
    select
        open_items.customer_id,
        buckets.aging_bucket,
        buckets.aging_bucket_order,
        sum(open_items.open_balance_rc) as open_ar_rc
    from open_items
    inner join marts.dim_aging_buckets as buckets
        on (buckets.min_days_past_due is null or open_items.days_past_due >= buckets.min_days_past_due)
        and (buckets.max_days_past_due is null or open_items.days_past_due <= buckets.max_days_past_due)
    group by all
),

filtered as (
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
    from filtered
    group by customer_id
    order by total desc, customer_id
    limit $limit
)

select
    filtered.customer_id,
    filtered.customer_name,
    filtered.collector_name,
    filtered.aging_bucket,
    filtered.aging_bucket_order,
    filtered.open_ar_rc::double as open_ar_rc,
    largest.total::double as total,
    largest.customers
from filtered
inner join largest on filtered.customer_id = largest.customer_id
order by total desc, filtered.customer_id, filtered.aging_bucket_order
