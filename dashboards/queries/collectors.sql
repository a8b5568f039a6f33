-- The collector groups that own at least one customer (fct_collector_daily, grouped by
-- dim_customers.collector_group, which owns the 'unassigned' rule), by name, the group
-- 'unassigned' last.
select
    collector_id,
    collector_name
from marts.fct_collector_daily
order by is_unassigned, collector_name
