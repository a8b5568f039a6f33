-- One row per payment applied to an invoice, with the method and confidence of the match.

with

applications as (

    select * from {{ ref('int_payments_matched_to_invoices') }}

),

payments as (

    select
        payment_id,
        payment_source,
        customer_id,
        currency,
        fx_rate
    from {{ ref('int_payments_unioned') }}

),

invoices as (

    select
        invoice_id,
        customer_id
    from {{ ref('stg_erp__invoices') }}

)

select
    -- ids
    applications.application_id,
    applications.payment_id,
    applications.invoice_id,
    invoices.customer_id,
    -- attributes
    payments.payment_source,
    applications.match_method,
    applications.match_confidence,
    payments.currency,
    -- amounts
    applications.applied_amount,
    {{ to_reporting('applications.applied_amount', 'payments.fx_rate') }} as applied_amount_rc,
    -- dates
    applications.applied_date
from applications
inner join payments on applications.payment_id = payments.payment_id
inner join invoices on applications.invoice_id = invoices.invoice_id
