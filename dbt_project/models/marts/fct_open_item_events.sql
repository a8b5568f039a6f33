-- The AR ledger in the reporting currency: one row per event that moves an invoice's open
-- balance (int_open_item_events: invoice, credit_memo, write_off, payment applied), with
-- `amount_rc`, how much the event moves open AR as fct_ar_aging and fct_open_item_balances
-- count it. The AR bridge between two dates sums these (opening AR + movements = closing AR).
--
-- An invoice counts in open AR, in the reporting currency, as its open balance × the invoice
-- date's rate rounded to the cent, while that balance is positive. Converting each event on its
-- own would leave cents of rounding between the sum of the events and that figure, so an
-- event's `amount_rc` is the invoice's figure just after it less the figure just before it: an
-- invoice's events add up exactly to its open AR at any date, and a bridge reconciles to the
-- cent. Every event of an invoice converts at the invoice date's rate (int_open_item_events),
-- so open AR has no FX revaluation: exchange differences belong to the cash side.
-- Events of one invoice on one day are taken invoice first, then credits, then payments (the
-- order int_open_item_events caps credits in); only the split of a cent of rounding between
-- them depends on it.
-- Incremental by loads, by invoice (macros/incremental_by_key.sql): a run rebuilds the invoices
-- the ledger rebuilt since; on Spark the model is rebuilt whole.

{{ incremental_by_loads('invoice_id', 'event_id') }}

with

{{ invoices_the_ledger_rebuilt() }}

events as (

    select
        event_id,
        invoice_id,
        customer_id,
        event_type,
        effective_date,
        currency,
        amount,
        fx_rate,
        case event_type when 'invoice' then 0 when 'payment' then 2 else 1 end as event_order
    from {{ ref('int_open_item_events') }}
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

running as (

    select
        *,
        sum(amount) over (
            partition by invoice_id order by effective_date, event_order, event_id
            rows between unbounded preceding and current row
        ) as balance_after
    from events

),

valued as (

    select
        *,
        -- the rule of int_invoice_balance_intervals.open_balance_rc, applied after each event and
        -- just before it (the balance before is the one after less the event: the previous
        -- event's balance after, at the same rate, the invoice's; 0 before the first)
        case
            when balance_after > 0 then {{ to_reporting('balance_after', 'fx_rate') }}
            else 0
        end as open_ar_after_rc,
        case
            when balance_after - amount > 0 then {{ to_reporting('(balance_after - amount)', 'fx_rate') }}
            else 0
        end as open_ar_before_rc
    from running

),

ledger as (

    select
        -- ids
        valued.event_id,
        valued.invoice_id,
        valued.customer_id,
        -- attributes
        valued.event_type,
        valued.currency,
        -- dates
        valued.effective_date,
        -- amounts
        valued.amount,
        cast(valued.open_ar_after_rc - valued.open_ar_before_rc as {{ money_type() }}) as amount_rc,
        {{ built_at() }} as built_at,
        {{ rule_fingerprint() }} as rule_fingerprint
    from valued

)

select
    event_id,
    invoice_id,
    customer_id,
    event_type,
    currency,
    effective_date,
    amount,
    amount_rc,
    built_at,
    rule_fingerprint
from ledger
{% if is_incremental() %}
-- a tombstone per rebuilt invoice (macros/incremental_by_key.sql)
union all
select
    null as event_id,
    invoice_id,
    null as customer_id,
    null as event_type,
    null as currency,
    null as effective_date,
    null as amount,
    null as amount_rc,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
-- Stored by date: a bridge sums a date range and reads only that range's row groups. A daily run
-- appends the invoices it rebuilds (each with its events of every date) after them; a full
-- refresh puts the table back in date order.
order by effective_date, invoice_id
