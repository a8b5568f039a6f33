{{ config(meta={'dagster': {'ref': {'name': 'stg_erp__invoices'}}}) }}

-- An invoice's total is the sum of its lines. Lines are optional (an AR export may have none,
-- or lines for some invoices only), so the equation holds for every invoice that has lines and
-- says nothing of one without.

with

lines_per_invoice as (

    select
        invoice_id,
        sum(line_amount) as lines_amount
    from {{ ref('stg_erp__invoice_lines') }}
    group by invoice_id

)

select
    invoices.invoice_id,
    invoices.invoice_amount,
    lines_per_invoice.lines_amount
from {{ ref('stg_erp__invoices') }} as invoices
inner join lines_per_invoice on invoices.invoice_id = lines_per_invoice.invoice_id
where lines_per_invoice.lines_amount != invoices.invoice_amount
