-- Bad-debt write-offs: one row per credit memo whose reason is a write-off reason (the var
-- write_off_reasons, applied once in stg_erp__credit_memos.is_write_off). The amount is the
-- credit memo's as posted, in its currency and in the reporting currency at the write-off
-- date's rate (what the loss cost when it was recognised).

with

write_offs as (

    select * from {{ ref('stg_erp__credit_memos') }}
    where is_write_off

),

invoices as (

    select
        invoice_id,
        due_date
    from {{ ref('stg_erp__invoices') }}

)

select
    -- ids
    write_offs.credit_memo_id,
    write_offs.credit_memo_number,
    write_offs.invoice_id,
    write_offs.customer_id,
    -- attributes
    write_offs.source_system,
    write_offs.reason,
    write_offs.currency,
    -- dates
    write_offs.credit_memo_date as write_off_date,
    invoices.due_date,
    {{ days_between('invoices.due_date', 'write_offs.credit_memo_date') }}
        as days_past_due_at_write_off,
    -- amounts
    cast(write_offs.credit_amount as {{ money_type() }}) as amount,
    fx.rate as fx_rate,
    {{ to_reporting('write_offs.credit_amount', 'fx.rate') }} as amount_rc
from write_offs
left join invoices on write_offs.invoice_id = invoices.invoice_id
{{ join_fx_rate_as_of('write_offs.currency', 'write_offs.credit_memo_date') }}
