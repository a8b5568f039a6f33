-- The open-item ledger: one row per event that changes an invoice's balance, with its
-- effective date. The balance of any invoice as of any date D is the sum of its events dated
-- on or before D. Invoices add; credit memos, write-offs and payment applications subtract.
-- Reporting-currency amounts use the invoice date's rate for every event of the invoice, so
-- a settled invoice is settled in both currencies (FX differences belong to the cash side).
-- A credit memo never takes an invoice below zero: what exceeds the balance still owed (say,
-- a credit after full payment) is the customer's credit on account (`credit_on_account`).
-- Incremental by loads, by invoice (macros/incremental_by_key.sql): a run rebuilds the invoices
-- whose events or rate arrived or changed since the last; on Spark the model is rebuilt whole.

{{ incremental_by_loads('invoice_id', 'event_id', records_gone=true) }}

-- depends_on: {{ ref('stg_fx__fx_rates') }} (read only to find the invoices a run rebuilds)

with

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

events as (

    select
        {{ dbt.concat(["'invoice|'", "invoice_id"]) }} as event_id,
        invoice_id,
        'invoice' as event_type,
        invoice_date as effective_date,
        0 as event_order,
        invoice_amount as amount
    from invoices

    union all

    select
        {{ dbt.concat(["'credit_memo|'", "credit_memo_id"]) }} as event_id,
        invoice_id,
        case when is_write_off then 'write_off' else 'credit_memo' end as event_type,
        credit_memo_date as effective_date,
        1 as event_order,
        -credit_amount as amount
    from {{ ref('stg_erp__credit_memos') }}
    where invoice_id is not null

    union all

    select
        {{ dbt.concat(["'payment|'", "application_id"]) }} as event_id,
        invoice_id,
        'payment' as event_type,
        applied_date as effective_date,
        2 as event_order,
        -applied_amount as amount
    from {{ ref('int_payments_matched_to_invoices') }}

),

{% if is_incremental() %}
credit_memos as (

    select
        credit_memo_id,
        invoice_id
    from {{ ref('stg_erp__credit_memos') }}
    where {{ loaded_since_last_build() }}

),

-- per currency, the first invoice date a rate loaded since may now convert at another rate
rates_from as (

    {{ dates_a_rate_loaded_since_reaches() }}

),

kept as (

    select
        event_id,
        invoice_id,
        event_type
    from {{ this }}

),

rebuilt as (

    -- invoices loaded since
    select invoice_id from invoices
    where {{ loaded_since_last_build() }}

    union

    -- credit memos loaded since: the invoice each is on, and the one it was on before
    select invoice_id from credit_memos
    where invoice_id is not null

    union

    select kept.invoice_id from kept
    inner join credit_memos on kept.event_id = {{ dbt.concat(["'credit_memo|'", "credit_memos.credit_memo_id"]) }}

    union

    -- invoices whose applications the cash application combined again since
    select invoice_id from {{ ref('int_payments_matched_to_invoices') }}
    where {{ built_since_last_build() }}

    union

    -- invoices dated where a rate loaded since holds
    select invoices.invoice_id from invoices
    inner join rates_from
        on invoices.currency = rates_from.currency and invoices.invoice_date >= rates_from.from_date

    union

    -- what the inputs no longer have: an invoice (each kept has its invoice event), a credit
    -- memo, every application of an invoice
    {{ keys_gone('invoice_id', 'invoices', kept='kept', kept_where="event_type = 'invoice'") }}

    union

    select invoice_id from kept
    where event_id in (
        {{ keys_gone(
            'event_id', ref('stg_erp__credit_memos'), now_key=dbt.concat(["'credit_memo|'", "credit_memo_id"]),
            kept='kept', kept_where="event_type in ('credit_memo', 'write_off')",
        ) }}
    )

    union

    {{ keys_gone_from(
        'invoice_id', ref('int_payments_matched_to_invoices'), kept='kept', kept_where="event_type = 'payment'"
    ) }}

),
{% endif %}

-- The rate of each invoice rebuilt, found for those alone: a filter after the as-of join is not
-- carried below it (at l, every invoice's rate cost 4.3 CPU-s a day).
invoice_rates as (

    select
        invoices.invoice_id,
        invoices.customer_id,
        invoices.currency,
        fx.rate
    from (
        select * from invoices
        {% if is_incremental() %}
        where invoice_id in (select rebuilt.invoice_id from rebuilt)
        {% endif %}
    ) as invoices
    {{ join_fx_rate_as_of('invoices.currency', 'invoices.invoice_date') }}

),

-- Balance just before each event (credits taken at face value, which only understates it).
sequenced as (

    select
        *,
        coalesce(sum(amount) over (
            partition by invoice_id order by effective_date, event_order, event_id
            rows between unbounded preceding and 1 preceding
        ), 0) as balance_before
    from events
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

capped as (

    select
        event_id,
        invoice_id,
        event_type,
        effective_date,
        case
            when event_order = 1 then -least(-amount, greatest(balance_before, 0))
            else amount
        end as amount,
        case
            when event_order = 1 then -amount - least(-amount, greatest(balance_before, 0))
            else 0
        end as credit_on_account
    from sequenced

)

select
    events.event_id,
    events.invoice_id,
    invoice_rates.customer_id,
    events.event_type,
    events.effective_date,
    invoice_rates.currency,
    cast(events.amount as {{ money_type() }}) as amount,
    cast(events.credit_on_account as {{ money_type() }}) as credit_on_account,
    -- sums of events convert at this rate once, so a settled invoice is zero in both currencies
    invoice_rates.rate as fx_rate,
    {{ to_reporting('events.amount', 'invoice_rates.rate') }} as amount_rc,
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from capped as events
inner join invoice_rates on events.invoice_id = invoice_rates.invoice_id
{% if is_incremental() %}
-- a tombstone per rebuilt invoice (macros/incremental_by_key.sql)
union all
select
    null as event_id,
    invoice_id,
    null as customer_id,
    null as event_type,
    null as effective_date,
    null as currency,
    null as amount,
    null as credit_on_account,
    null as fx_rate,
    null as amount_rc,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
