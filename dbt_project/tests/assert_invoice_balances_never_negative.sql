{{ config(meta={'dagster': {'ref': {'name': 'int_open_item_events'}}}) }}

-- No invoice is ever owed less than nothing, at any date: overpayments stay unapplied cash and
-- excess credits stay on account.

select
    invoice_id,
    effective_date,
    balance
from (
    select
        invoice_id,
        effective_date,
        sum(amount) over (partition by invoice_id order by effective_date rows unbounded preceding) as balance
    from (
        select
            invoice_id,
            effective_date,
            sum(amount) as amount
        from {{ ref('int_open_item_events') }}
        group by invoice_id, effective_date
    ) as daily
) as running
where balance < 0
