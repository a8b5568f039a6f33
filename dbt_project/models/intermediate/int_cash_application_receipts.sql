-- Cash application, step 3's input (int_payments_matched_to_invoices has the whole rule): what
-- the references left of each receipt of a known customer, which the amount passes try to
-- make of the customer's open items, and how late the customer paid before it (days after
-- due, by earlier referenced or source-applied payments): a receipt most likely pays the
-- items due that long before it. Receipts the source applied are left to the source.

with

payments as (

    select
        payment_id,
        customer_id,
        payment_date,
        amount,
        currency,
        fx_rate
    from {{ ref('int_payments_unioned') }}
    where payment_type = 'payment'
        and customer_id is not null

),

references_and_source as (

    select
        payment_id,
        invoice_id,
        applied_date,
        applied_amount,
        method_rank
    from {{ ref('int_cash_application_references') }}

),

receipts as (

    select
        payments.payment_id,
        payments.customer_id,
        payments.payment_date,
        payments.currency,
        payments.fx_rate,
        payments.amount - coalesce(sum(applied.applied_amount), 0) as residual,
        count(applied.invoice_id) > 0 as has_references
    from payments
    left join references_and_source as applied
        on payments.payment_id = applied.payment_id and applied.applied_amount > 0
    where payments.payment_id not in (
            select source_pairs.payment_id from references_and_source as source_pairs
            where source_pairs.method_rank = 0
        )
    group by
        payments.payment_id, payments.customer_id, payments.payment_date, payments.currency, payments.fx_rate,
        payments.amount
    having payments.amount - coalesce(sum(applied.applied_amount), 0) > 0

),

earlier_applications as (

    select
        invoices.customer_id,
        invoices.due_date,
        applied.applied_date
    from references_and_source as applied
    inner join {{ ref('stg_erp__invoices') }} as invoices on applied.invoice_id = invoices.invoice_id
    where applied.applied_amount > 0

),

receipt_delays as (

    select
        receipts.payment_id,
        coalesce(avg({{ days_between('earlier.due_date', 'earlier.applied_date') }}), 0) as usual_delay_days
    from receipts
    left join earlier_applications as earlier
        on receipts.customer_id = earlier.customer_id and receipts.payment_date > earlier.applied_date
    group by receipts.payment_id

)

select
    receipts.payment_id,
    receipts.customer_id,
    receipts.payment_date,
    receipts.currency,
    receipts.fx_rate,
    receipts.residual,
    receipts.has_references,
    delays.usual_delay_days
from receipts
inner join receipt_delays as delays on receipts.payment_id = delays.payment_id
