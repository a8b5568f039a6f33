-- Receipts holding money as of the data's date: what is neither applied to an invoice nor
-- refunded (refunds name the receipt they return, at the receipt's rate, so a receipt refunded
-- in full holds nothing in either currency). The one place the unapplied-cash rule lives for
-- today's view: fct_unapplied_cash lists these, int_cash_application_suggestions proposes
-- where they go (fct_ar_monthly applies the same rule at each month-end).

with

receipts as (

    select * from {{ ref('int_payments_unioned') }}
    where payment_type = 'payment'

),

applied as (

    select
        payment_id,
        sum(applied_amount) as applied_amount,
        count(*) as n_invoices_applied
    from {{ ref('int_payments_matched_to_invoices') }}
    group by payment_id

),

refunded as (

    select
        original_payment_id as payment_id,
        sum(amount) as refunded_amount
    from {{ ref('int_payments_unioned') }}
    where is_refund and original_payment_id is not null
    group by original_payment_id

),

held as (

    select
        receipts.payment_id,
        receipts.customer_id,
        receipts.payer_name,
        receipts.payer_account,
        receipts.payment_source,
        receipts.payment_method,
        receipts.remittance_info,
        receipts.currency,
        receipts.fx_rate,
        receipts.payment_date,
        receipts.amount,
        receipts.amount_rc,
        coalesce(applied.n_invoices_applied, 0) as n_invoices_applied,
        coalesce(applied.applied_amount, 0) as applied_amount,
        coalesce(refunded.refunded_amount, 0) as refunded_amount,
        receipts.amount - coalesce(applied.applied_amount, 0) - coalesce(refunded.refunded_amount, 0)
            as unapplied_amount,
        receipts.amount_rc
        - {{ to_reporting('coalesce(applied.applied_amount, 0)', 'receipts.fx_rate') }}
        - {{ to_reporting('coalesce(refunded.refunded_amount, 0)', 'receipts.fx_rate') }} as unapplied_amount_rc
    from receipts
    left join applied on receipts.payment_id = applied.payment_id
    left join refunded on receipts.payment_id = refunded.payment_id

)

select
    *,
    case when customer_id is null then 'unidentified' else 'on account' end as status
from held
where unapplied_amount > 0
