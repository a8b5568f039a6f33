-- The AR bridge per customer from the end of $date_from to the end of $date_to (the lines of
-- queries/bridge_totals.sql), the customers whose AR changed most first (at most $limit);
-- `customers` is how many customers had open AR or movements in the period.
with opening as (
    select
        customer_id,
        sum(open_balance_rc) as opening_ar_rc
    from marts.fct_open_item_balances
    where valid_from <= $date_from::date and valid_to >= $date_from::date
    group by customer_id
),

closing as (
    select
        customer_id,
        sum(open_balance_rc) as closing_ar_rc
    from marts.fct_open_item_balances
    where valid_from <= $date_to::date and valid_to >= $date_to::date
    group by customer_id
),

movements as (
    select
        customer_id,
        coalesce(sum(amount_rc) filter (where event_type = 'invoice'), 0) as invoiced_rc,
        coalesce(sum(amount_rc) filter (where event_type = 'payment'), 0) as collected_rc,
        coalesce(sum(amount_rc) filter (where event_type = 'credit_memo'), 0) as credited_rc,
        coalesce(sum(amount_rc) filter (where event_type = 'write_off'), 0) as written_off_rc
    from marts.fct_open_item_events
    where effective_date > $date_from::date and effective_date <= $date_to::date
    group by customer_id
),

in_bridge as (
    select customer_id from opening
    union
    select customer_id from closing
    union
    select customer_id from movements
),

bridged as (
    select
        in_bridge.customer_id,
        coalesce(opening.opening_ar_rc, 0) as opening_ar_rc,
        coalesce(movements.invoiced_rc, 0) as invoiced_rc,
        coalesce(movements.collected_rc, 0) as collected_rc,
        coalesce(movements.credited_rc, 0) as credited_rc,
        coalesce(movements.written_off_rc, 0) as written_off_rc,
        coalesce(closing.closing_ar_rc, 0) as closing_ar_rc
    from in_bridge
    left join opening on in_bridge.customer_id = opening.customer_id
    left join closing on in_bridge.customer_id = closing.customer_id
    left join movements on in_bridge.customer_id = movements.customer_id
)

select
    customers.customer_name,
    customers.collector_name,
    bridged.opening_ar_rc,
    bridged.invoiced_rc,
    bridged.collected_rc,
    bridged.credited_rc,
    bridged.written_off_rc,
    bridged.closing_ar_rc,
    bridged.closing_ar_rc - bridged.opening_ar_rc as net_change_rc,
    bridged.customer_id,
    count(*) over () as customers
from bridged
left join marts.dim_customers as customers on bridged.customer_id = customers.customer_id
order by abs(bridged.closing_ar_rc - bridged.opening_ar_rc) desc, bridged.customer_id
limit $limit
