-- One row per money movement (payments in, refunds out) with what cash application made of it.

with

payments as (

    select * from {{ ref('int_payments_unioned') }}

),

applied as (

    select
        payment_id,
        sum(applied_amount) as applied_amount,
        count(*) as n_invoices
    from {{ ref('int_payments_matched_to_invoices') }}
    group by payment_id

)

select
    -- ids
    payments.payment_id,
    payments.customer_id,
    payments.original_payment_id,
    -- attributes
    payments.payment_source,
    payments.customer_match_method,
    payments.payer_name,
    payments.payment_method,
    payments.payment_type,
    payments.is_refund,
    payments.remittance_info,
    payments.currency,
    coalesce(applied.n_invoices, 0) as n_invoices_applied,
    -- amounts (transaction currency)
    payments.amount,
    payments.cash_amount,
    coalesce(applied.applied_amount, 0) as applied_amount,
    case when payments.is_refund then 0 else payments.amount - coalesce(applied.applied_amount, 0) end
        as unapplied_amount,
    -- amounts (reporting currency, payment-date rate)
    payments.fx_rate,
    payments.amount_rc,
    payments.cash_amount_rc,
    {{ to_reporting('coalesce(applied.applied_amount, 0)', 'payments.fx_rate') }} as applied_amount_rc,
    case
        when payments.is_refund then 0
        else payments.amount_rc - {{ to_reporting('coalesce(applied.applied_amount, 0)', 'payments.fx_rate') }}
    end as unapplied_amount_rc,
    -- dates
    payments.payment_date
from payments
left join applied on payments.payment_id = applied.payment_id
