-- MetricFlow's time spine: one row per day of the calendar the marts use (dim_date), which
-- MetricFlow joins to for cumulative metrics and to fill periods without rows.
select cast(date_day as date) as date_day
from {{ ref('dim_date') }}
