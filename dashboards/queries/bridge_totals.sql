-- The AR bridge from the end of $date_from to the end of $date_to, in the reporting currency,
-- for one customer or all ($customer_id null): opening AR + invoiced + collected + credited +
-- written off = closing AR, the reductions negative. Opening and closing AR are the open items
-- valid on each date (marts.fct_open_item_balances, fct_ar_aging's figures); the movements are
-- the AR ledger's events dated after $date_from up to $date_to (marts.fct_open_item_events),
-- each already its change of open AR to the cent. `unexplained_rc` is what those lines leave
-- between opening and closing AR: zero by construction (a dbt test and tests/test_ar_bridge.py
-- hold it there), shown so that a break would be seen, not hidden.
-- Opening and closing AR in one scan of the balances valid at either end (stored by valid_to, so
-- the scan skips balances that ended before $date_from).
with balances as (
    select
        coalesce(sum(open_balance_rc) filter (where valid_from <= $date_from::date), 0) as opening_ar_rc,
        coalesce(sum(open_balance_rc) filter (where valid_to >= $date_to::date), 0) as closing_ar_rc
    from marts.fct_open_item_balances
    where valid_to >= $date_from::date
        and valid_from <= $date_to::date
        and ($customer_id::varchar is null or customer_id = $customer_id::varchar)
),

movements as (
    select
        coalesce(sum(amount_rc) filter (where event_type = 'invoice'), 0) as invoiced_rc,
        coalesce(sum(amount_rc) filter (where event_type = 'payment'), 0) as collected_rc,
        coalesce(sum(amount_rc) filter (where event_type = 'credit_memo'), 0) as credited_rc,
        coalesce(sum(amount_rc) filter (where event_type = 'write_off'), 0) as written_off_rc
    from marts.fct_open_item_events
    where effective_date > $date_from::date
        and effective_date <= $date_to::date
        and ($customer_id::varchar is null or customer_id = $customer_id::varchar)
)

select
    balances.opening_ar_rc,
    movements.invoiced_rc,
    movements.collected_rc,
    movements.credited_rc,
    movements.written_off_rc,
    balances.closing_ar_rc,
    balances.closing_ar_rc - balances.opening_ar_rc as net_change_rc,
    balances.closing_ar_rc - balances.opening_ar_rc
    - (movements.invoiced_rc + movements.collected_rc + movements.credited_rc + movements.written_off_rc)
        as unexplained_rc
from balances, movements
