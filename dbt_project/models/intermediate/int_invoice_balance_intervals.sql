-- Periods over which an invoice's open balance is constant and positive: from valid_from to
-- valid_to (inclusive). Aging as of any date joins these on that date, so it costs one row per
-- open invoice per as-of date, however long the history. Incremental by loads, by invoice
-- (macros/incremental_by_key.sql): a run rebuilds the invoices the ledger rebuilt since; on Spark
-- the model is rebuilt whole.

{{ incremental_by_loads('invoice_id', 'valid_from') }}

with

{{ invoices_the_ledger_rebuilt() }}

daily as (

    select
        invoice_id,
        effective_date,
        max(fx_rate) as fx_rate,
        sum(amount) as amount
    from {{ ref('int_open_item_events') }}
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}
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
    running.invoice_id,
    running.valid_from,
    running.valid_to,
    cast(running.open_balance as {{ money_type() }}) as open_balance,
    {{ to_reporting('running.open_balance', 'running.fx_rate') }} as open_balance_rc,
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from running
where running.open_balance > 0
{% if is_incremental() %}
-- a tombstone per rebuilt invoice (macros/incremental_by_key.sql)
union all
select
    invoice_id,
    null as valid_from,
    null as valid_to,
    null as open_balance,
    null as open_balance_rc,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
