-- One row per invoice: amounts, what happened to them, and its state as of the data's as-of date.
-- Incremental by loads, by invoice (macros/incremental_by_key.sql): a run rebuilds the invoices
-- whose settlement was rebuilt since (the ledger rebuilds every invoice loaded since, so a
-- corrected due date or customer too) or whose disputes were loaded since, and those whose state
-- moves with nothing arriving: every open invoice (its days past due grow with the as-of date)
-- and every disputed one (a dispute taken out of the load, or moved to another invoice); on
-- Spark the model is rebuilt whole.

{{ incremental_by_loads('invoice_id', 'invoice_status') }}

with

{% if is_incremental() %}
rebuilt as (

    select invoice_id from {{ ref('int_invoice_settlements') }}
    where {{ built_since_last_build() }}

    union

    select invoice_id from {{ ref('stg_erp__disputes') }}
    where {{ loaded_since_last_build() }}

    union

    select invoice_id from {{ this }}
    where is_open or is_disputed

    union

    -- what the settlements no longer have (an invoice taken out of the load)
    {{ keys_gone_from('invoice_id', ref('int_invoice_settlements')) }}

),
{% endif %}

invoices as (

    select * from {{ ref('stg_erp__invoices') }}
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

settlements as (

    select * from {{ ref('int_invoice_settlements') }}
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

open_disputes as (

    select distinct invoice_id from {{ ref('stg_erp__disputes') }}
    where is_open

),

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

invoice_states as (

    select
        -- ids
        invoices.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        invoices.order_id,
        invoices.shipment_id,
        -- attributes
        invoices.source_system,
        invoices.currency,
        invoices.payment_terms_code,
        case
            when settlements.open_balance > 0 and open_disputes.invoice_id is not null then 'disputed'
            when settlements.open_balance > 0 and settlements.applied_amount > 0 then 'partially_paid'
            when settlements.open_balance > 0 then 'open'
            when settlements.written_off_amount > 0 then 'written_off'
            when settlements.applied_amount > 0 then 'paid'
            else 'credited'
        end as invoice_status,
        settlements.open_balance > 0 as is_open,
        open_disputes.invoice_id is not null as is_disputed,
        -- amounts (transaction currency)
        settlements.invoiced_amount as invoice_amount,
        settlements.credited_amount,
        settlements.written_off_amount,
        settlements.applied_amount,
        settlements.open_balance,
        -- amounts (reporting currency, invoice-date rate)
        settlements.invoiced_amount_rc as invoice_amount_rc,
        settlements.credited_amount_rc,
        settlements.written_off_amount_rc,
        settlements.applied_amount_rc,
        settlements.open_balance_rc,
        -- dates
        invoices.invoice_date,
        invoices.due_date,
        settlements.first_payment_date,
        settlements.last_payment_date,
        settlements.settled_date,
        settlements.paid_date,
        -- durations (days)
        {{ days_between('invoices.invoice_date', 'invoices.due_date') }}
            as terms_days,
        {{ days_between('invoices.invoice_date', 'settlements.paid_date') }}
            as days_to_pay,
        {{ days_between('invoices.due_date', 'settlements.paid_date') }}
            as days_late,
        case
            when settlements.open_balance > 0 then {{ days_between('invoices.due_date', 'as_of.as_of_date') }}
        end as days_past_due,
        -- bookkeeping
        {{ built_at() }} as built_at,
        {{ rule_fingerprint() }} as rule_fingerprint
    from invoices
    inner join settlements on invoices.invoice_id = settlements.invoice_id
    left join open_disputes on invoices.invoice_id = open_disputes.invoice_id
    cross join as_of
    {% if is_incremental() %}
    -- a tombstone per rebuilt invoice (macros/incremental_by_key.sql)
    union all
    select
        invoice_id,
        null as invoice_number,
        null as customer_id,
        null as order_id,
        null as shipment_id,
        null as source_system,
        null as currency,
        null as payment_terms_code,
        null as invoice_status,
        null as is_open,
        null as is_disputed,
        null as invoice_amount,
        null as credited_amount,
        null as written_off_amount,
        null as applied_amount,
        null as open_balance,
        null as invoice_amount_rc,
        null as credited_amount_rc,
        null as written_off_amount_rc,
        null as applied_amount_rc,
        null as open_balance_rc,
        null as invoice_date,
        null as due_date,
        null as first_payment_date,
        null as last_payment_date,
        null as settled_date,
        null as paid_date,
        null as terms_days,
        null as days_to_pay,
        null as days_late,
        null as days_past_due,
        null as built_at,
        null as rule_fingerprint
    from rebuilt
    {% endif %}

)

select * from invoice_states
