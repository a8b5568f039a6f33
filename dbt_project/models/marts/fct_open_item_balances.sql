-- Open items over time: one row per invoice per period over which its open balance is constant
-- and positive (valid_from to valid_to, both included), in its currency and in the reporting
-- currency at the invoice date's rate: int_invoice_balance_intervals, the rows fct_ar_aging is
-- built from, with the invoice's customer and dates. The open items as of ANY date D are the
-- rows with valid_from <= D <= valid_to, so the AR aging page ages any day, not only the
-- month-ends fct_ar_aging stores, with the same figures item by item (tests/test_ar_bridge.py).

with

intervals as (

    select * from {{ ref('int_invoice_balance_intervals') }}

),

invoices as (

    select
        invoice_id,
        customer_id,
        currency,
        invoice_date,
        due_date
    from {{ ref('stg_erp__invoices') }}

)

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
    intervals.open_balance_rc
from intervals
inner join invoices on intervals.invoice_id = invoices.invoice_id
-- Stored by the last day each balance holds: a query for a recent date (the usual one) skips
-- every row group of balances that ended before it (DuckDB's min/max per row group), which at
-- scale l is most of the history.
order by intervals.valid_to, intervals.valid_from
