-- Suggested matches for unapplied receipts (int_cash_application_suggestions), with what the
-- Unapplied cash page shows beside each: the invoice's number, due date and open balance.

with

suggestions as (

    select * from {{ ref('int_cash_application_suggestions') }}

),

open_items as (

    select
        invoice_id,
        open_balance,
        days_past_due
    from {{ ref('fct_ar_aging') }}
    where as_of_date = (select as_of.as_of_date from {{ ref('int_data_as_of') }} as as_of)

)

select
    -- ids
    suggestions.payment_id,
    suggestions.invoice_id,
    invoices.customer_id,
    -- attributes
    invoices.invoice_number,
    invoices.currency,
    suggestions.match_method,
    suggestions.match_confidence,
    suggestions.reason,
    suggestions.suggestion_rank,
    -- amounts
    suggestions.suggested_amount,
    open_items.open_balance,
    -- dates
    invoices.invoice_date,
    invoices.due_date,
    open_items.days_past_due
from suggestions
inner join {{ ref('stg_erp__invoices') }} as invoices on suggestions.invoice_id = invoices.invoice_id
left join open_items on suggestions.invoice_id = open_items.invoice_id
