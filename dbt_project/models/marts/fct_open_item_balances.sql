-- Open items over time: one row per invoice per period over which its open balance is constant
-- and positive (valid_from to valid_to, both included), in its currency and in the reporting
-- currency at the invoice date's rate: int_invoice_balance_intervals, the rows fct_ar_aging is
-- built from, with the invoice's customer and dates. The open items as of ANY date D are the
-- rows with valid_from <= D <= valid_to, so the AR aging page ages any day, not only the
-- month-ends fct_ar_aging stores, with the same figures item by item (tests/test_ar_bridge.py).
-- Incremental by loads, by invoice (macros/incremental_by_key.sql): a run rebuilds the invoices
-- the ledger rebuilt since (which include every invoice loaded since, so a corrected due date or
-- customer too); on Spark the model is rebuilt whole.

{{ incremental_by_loads('invoice_id', 'valid_from') }}

-- depends_on: {{ ref('int_open_item_events') }} (read only to find the invoices a run rebuilds)

with

{{ invoices_the_ledger_rebuilt() }}

intervals as (

    select * from {{ ref('int_invoice_balance_intervals') }}
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

invoices as (

    select
        invoice_id,
        customer_id,
        currency,
        invoice_date,
        due_date
    from {{ ref('stg_erp__invoices') }}

),

balances as (

    select
        -- ids
        intervals.invoice_id,
        invoices.customer_id,
        -- attributes
        invoices.currency,
        -- dates
        invoices.invoice_date,
        invoices.due_date,
        intervals.valid_from,
        intervals.valid_to,
        -- amounts
        intervals.open_balance,
        intervals.open_balance_rc,
        -- bookkeeping
        {{ built_at() }} as built_at,
        {{ rule_fingerprint() }} as rule_fingerprint
    from intervals
    inner join invoices on intervals.invoice_id = invoices.invoice_id
    {% if is_incremental() %}
    -- a tombstone per rebuilt invoice (macros/incremental_by_key.sql)
    union all
    select
        invoice_id,
        null as customer_id,
        null as currency,
        null as invoice_date,
        null as due_date,
        null as valid_from,
        null as valid_to,
        null as open_balance,
        null as open_balance_rc,
        null as built_at,
        null as rule_fingerprint
    from rebuilt
    {% endif %}

)

select * from balances
-- Stored by the last day each balance holds: a query for a recent date (the usual one) skips
-- every row group of balances that ended before it (DuckDB's min/max per row group), which at
-- scale l is most of the history.
order by valid_to, valid_from
