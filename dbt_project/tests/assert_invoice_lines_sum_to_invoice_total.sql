{{ config(meta={'dagster': {'ref': {'name': 'stg_erp__invoices'}}}) }}

-- An invoice's total is the sum of its lines.

select invoices.invoice_id, invoices.invoice_amount, lines.lines_amount
from {{ ref('stg_erp__invoices') }} as invoices
left join (
    select invoice_id, sum(line_amount) as lines_amount
    from {{ ref('stg_erp__invoice_lines') }}
    group by invoice_id
) as lines on invoices.invoice_id = lines.invoice_id
where lines.lines_amount is null or lines.lines_amount != invoices.invoice_amount