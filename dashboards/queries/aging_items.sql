-- Open items as of any date, with their customer and aging bucket, for the chosen filters (an
-- empty list = all) and one customer, or all when $customer_id is null. The open items are the
-- balances valid on the date (marts.fct_open_item_balances); the bucket is the range of days
-- past due that holds them (marts.dim_aging_buckets). Equal to fct_ar_aging at its dates.
with open_items as (
    select
        balances.customer_id,
        balances.currency,
        balances.invoice_id,
        balances.invoice_date,
        balances.due_date,
        $as_of_date::date - balances.due_date as days_past_due,
        balances.open_balance,
        balances.open_balance_rc
    from marts.fct_open_item_balances as balances
    where balances.valid_from <= $as_of_date::date
        and balances.valid_to >= $as_of_date::date
        and ($customer_id::varchar is null or balances.customer_id = $customer_id::varchar)
        and (len($currencies::varchar[]) = 0 or list_contains($currencies::varchar[], balances.currency))
)

select
    open_items.customer_id,
    customers.customer_name,
    customers.collector_name,
    customers.region,
    customers.segment,
    open_items.currency,
    open_items.invoice_id,
    open_items.invoice_date,
    open_items.due_date,
    open_items.days_past_due,
    buckets.aging_bucket,
    buckets.aging_bucket_order,
    open_items.open_balance::double as open_balance,
    open_items.open_balance_rc::double as open_balance_rc
from open_items
inner join marts.dim_aging_buckets as buckets
    on (buckets.min_days_past_due is null or open_items.days_past_due >= buckets.min_days_past_due)
    and (buckets.max_days_past_due is null or open_items.days_past_due <= buckets.max_days_past_due)
inner join marts.dim_customers as customers on open_items.customer_id = customers.customer_id
where (len($collectors::varchar[]) = 0 or list_contains($collectors::varchar[], customers.collector_name))
    and (len($regions::varchar[]) = 0 or list_contains($regions::varchar[], customers.region))
    and (len($segments::varchar[]) = 0 or list_contains($segments::varchar[], customers.segment))
order by buckets.aging_bucket_order desc, open_items.open_balance_rc desc, open_items.invoice_id
