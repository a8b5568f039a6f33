-- Collectors who own at least one customer, by name; then, where some customers have no
-- collector (a company whose data has no collectors: all of them), the group 'unassigned'.
select collector_id, collector_name
from (
    select distinct
        coalesce(collector_id, 'unassigned') as collector_id,
        coalesce(collector_name, 'unassigned') as collector_name,
        collector_id is null as is_unassigned
    from marts.dim_customers
)
order by is_unassigned, collector_name
