-- Open AR by aging bucket as of any date, for the chosen filters (an empty list = all).
-- The open items as of the date are the balances valid on it (marts.fct_open_item_balances);
-- their bucket is the range of days past due (as-of date − due date) that holds them
-- (marts.dim_aging_buckets, the buckets' one home). Equal to fct_ar_aging at its dates.
with open_items as (
    select
        balances.customer_id,
        balances.currency,
        $as_of_date::date - balances.due_date as days_past_due,
        balances.open_balance_rc
    from marts.fct_open_item_balances as balances
    where balances.valid_from <= $as_of_date::date
        and balances.valid_to >= $as_of_date::date
        and (len($currencies::varchar[]) = 0 or list_contains($currencies::varchar[], balances.currency))
)

select
    buckets.aging_bucket,
    buckets.aging_bucket_order,
    sum(open_items.open_balance_rc)::double as open_ar_rc,
    count(*) as invoices
from open_items
inner join marts.dim_aging_buckets as buckets
    on (buckets.min_days_past_due is null or open_items.days_past_due >= buckets.min_days_past_due)
    and (buckets.max_days_past_due is null or open_items.days_past_due <= buckets.max_days_past_due)
inner join marts.dim_customers as customers on open_items.customer_id = customers.customer_id
where (len($collectors::varchar[]) = 0 or list_contains($collectors::varchar[], customers.collector_name))
    and (len($regions::varchar[]) = 0 or list_contains($regions::varchar[], customers.region))
    and (len($segments::varchar[]) = 0 or list_contains($segments::varchar[], customers.segment))
group by all
order by buckets.aging_bucket_order
