-- Per invoice: what was credited, written off and applied, and the day its balance first
-- reached zero (settled_date). It is paid on that day when payments settled it; written off or
-- credited invoices have no paid date. Incremental by loads, by invoice
-- (macros/incremental_by_key.sql): a run rebuilds the invoices the ledger rebuilt since; on Spark
-- the model is rebuilt whole.

{{ incremental_by_loads('invoice_id', 'open_balance', records_gone=true) }}

with

{{ invoices_the_ledger_rebuilt() }}

events as (

    select * from {{ ref('int_open_item_events') }}
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

daily as (

    select
        invoice_id,
        effective_date,
        sum(amount) as amount
    from events
    group by invoice_id, effective_date

),

settled as (

    select
        invoice_id,
        min(effective_date) as settled_date
    from (
        select
            invoice_id,
            effective_date,
            sum(amount) over (partition by invoice_id order by effective_date rows unbounded preceding) as balance
        from daily
    ) as balances
    where balance <= 0
    group by invoice_id

),

sums as (

    select
        invoice_id,
        max(fx_rate) as fx_rate,
        sum(case when event_type = 'invoice' then amount else 0 end) as invoiced_amount,
        -sum(case when event_type = 'credit_memo' then amount else 0 end) as credited_amount,
        -sum(case when event_type = 'write_off' then amount else 0 end) as written_off_amount,
        -sum(case when event_type = 'payment' then amount else 0 end) as applied_amount,
        sum(amount) as open_balance,
        min(case when event_type = 'payment' then effective_date end) as first_payment_date,
        max(case when event_type = 'payment' then effective_date end) as last_payment_date
    from events
    group by invoice_id

),

totals as (

    select
        *,
        {{ to_reporting('invoiced_amount', 'fx_rate') }} as invoiced_amount_rc,
        {{ to_reporting('credited_amount', 'fx_rate') }} as credited_amount_rc,
        {{ to_reporting('written_off_amount', 'fx_rate') }} as written_off_amount_rc,
        {{ to_reporting('applied_amount', 'fx_rate') }} as applied_amount_rc,
        {{ to_reporting('open_balance', 'fx_rate') }} as open_balance_rc
    from sums

)

select
    totals.*,
    settled.settled_date,
    case
        when settled.settled_date is not null and totals.applied_amount > 0 and totals.written_off_amount = 0
            then settled.settled_date
    end as paid_date,
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from totals
left join settled on totals.invoice_id = settled.invoice_id
{% if is_incremental() %}
-- a tombstone per rebuilt invoice (macros/incremental_by_key.sql)
union all
select
    invoice_id,
    null as fx_rate,
    null as invoiced_amount,
    null as credited_amount,
    null as written_off_amount,
    null as applied_amount,
    null as open_balance,
    null as first_payment_date,
    null as last_payment_date,
    null as invoiced_amount_rc,
    null as credited_amount_rc,
    null as written_off_amount_rc,
    null as applied_amount_rc,
    null as open_balance_rc,
    null as settled_date,
    null as paid_date,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
