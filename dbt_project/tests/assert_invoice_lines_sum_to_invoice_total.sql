{{ config(meta={'dagster': {'ref': {'name': 'stg_erp__invoices'}}, 'tests_on_new_rows': true}) }}

-- An invoice's total is the sum of its lines. Lines are optional (an AR export may have none,
-- or lines for some invoices only), so the equation holds for every invoice that has lines and
-- says nothing of one without. Invoice by invoice: a run reads the invoices whose row or lines
-- were loaded since the test last passed (macros/data_tests_on_new_rows.sql).

{% set loaded_since_last_pass = key_written_since_last_pass('invoice_id', [
    [ref('stg_erp__invoices'), 'dlt_load_id'], [ref('stg_erp__invoice_lines'), 'dlt_load_id']
]) %}

with

lines_per_invoice as (

    select
        invoice_id,
        sum(line_amount) as lines_amount
    from {{ ref('stg_erp__invoice_lines') }}
    where {{ loaded_since_last_pass }}
    group by invoice_id

)

select
    invoices.invoice_id,
    invoices.invoice_amount,
    lines_per_invoice.lines_amount
from {{ ref('stg_erp__invoices') }} as invoices
inner join lines_per_invoice on invoices.invoice_id = lines_per_invoice.invoice_id
where lines_per_invoice.lines_amount != invoices.invoice_amount
