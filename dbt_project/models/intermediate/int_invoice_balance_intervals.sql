-- Periods over which an invoice's open balance is constant and positive: from valid_from to
-- valid_to (inclusive). Aging as of any date joins these on that date, so it costs one row per
-- open invoice per as-of date, however long the history.

with

daily as (

    select
        invoice_id,
        effective_date,
        max(fx_rate) as fx_rate,
        sum(amount) as amount
    from {{ ref('int_open_item_events') }}
    group by invoice_id, effective_date

),

running as (

    select
        invoice_id,
        effective_date as valid_from,
        coalesce(
            cast({{ dbt.dateadd(
                'day', -1, 'lead(effective_date) over (partition by invoice_id order by effective_date)'
            ) }} as date),
            {{ date_literal('9999-12-31') }}
        ) as valid_to,
        fx_rate,
        sum(amount) over (partition by invoice_id order by effective_date rows unbounded preceding) as open_balance
    from daily

)

select
    invoice_id,
    valid_from,
    valid_to,
    cast(open_balance as {{ money_type() }}) as open_balance,
    {{ to_reporting('open_balance', 'fx_rate') }} as open_balance_rc
from running
where open_balance > 0
