{{ config(meta={'dagster': {'ref': {'name': 'fct_write_offs'}}}) }}

-- Every write-off in the ledger is a row of fct_write_offs, and the ledger never takes more off
-- an invoice than its write-off credit memos say (it caps them at the balance still owed).

with

posted as (

    select
        invoice_id,
        sum(amount) as written_off_amount
    from {{ ref('fct_write_offs') }}
    where invoice_id is not null
    group by invoice_id

)

select
    invoices.invoice_id,
    invoices.written_off_amount,
    posted.written_off_amount as posted_amount
from {{ ref('fct_invoices') }} as invoices
left join posted on invoices.invoice_id = posted.invoice_id
where invoices.written_off_amount > coalesce(posted.written_off_amount, 0)
