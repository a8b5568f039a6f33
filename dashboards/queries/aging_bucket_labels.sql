-- Every aging bucket from current to oldest, whether or not it holds items today: the order the
-- aging colours (core/formatting.aging_colours) are given in, so the oldest is always darkest.
select aging_bucket
from marts.dim_aging_buckets
order by aging_bucket_order
