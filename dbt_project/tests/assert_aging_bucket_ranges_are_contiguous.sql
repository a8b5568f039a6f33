-- The aging buckets' ranges of days past due (dim_aging_buckets) leave no gap and overlap
-- nowhere: the first has no lower bound, the last no upper one, and each starts the day after
-- the one before it ends. So every open item falls in exactly one bucket. One row per break.

with

buckets as (

    select
        aging_bucket,
        aging_bucket_order,
        min_days_past_due,
        max_days_past_due,
        lag(max_days_past_due) over (order by aging_bucket_order) as previous_max,
        row_number() over (order by aging_bucket_order) as bucket_position,
        count(*) over () as bucket_count
    from {{ ref('dim_aging_buckets') }}

)

select *
from buckets
where (bucket_position = 1 and min_days_past_due is not null)
    or (bucket_position = bucket_count and max_days_past_due is not null)
    or (bucket_position > 1 and (previous_max is null or min_days_past_due != previous_max + 1))
    or (bucket_position < bucket_count and max_days_past_due is null)
    or max_days_past_due < min_days_past_due
