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

-- What the source, people and references applied of each receipt, and whether the source or a
-- person did (their receipts are left to them): one pass over the pairs, then one join.
applied as (

    select
        payment_id,
        sum(case when applied_amount > 0 then applied_amount end) as applied_amount,
        count(case when applied_amount > 0 then invoice_id end) as n_applied,
        max(case when method_rank = 0 then 1 else 0 end) = 1 as left_to_source
    from references_and_source
    group by payment_id

),

receipts as (

    select
        payments.payment_id,
        payments.customer_id,
        payments.payment_date,
        payments.currency,
        payments.fx_rate,
        payments.amount - coalesce(applied.applied_amount, 0) as residual,
        coalesce(applied.n_applied, 0) > 0 as has_references
    from payments
    left join applied on payments.payment_id = applied.payment_id
    where not coalesce(applied.left_to_source, false)
        and payments.amount - coalesce(applied.applied_amount, 0) > 0

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

-- The receipts and the applications in one stream per customer by date (a receipt before the
-- applications of its own date: only earlier ones count).
delay_stream as (

    select
        customer_id,
        applied_date as event_date,
        1 as is_application,
        {{ days_between('due_date', 'applied_date') }} as delay_days,
        null as payment_id
    from earlier_applications

    union all

    select
        customer_id,
        payment_date as event_date,
        0 as is_application,
        null as delay_days,
        payment_id
    from receipts

),

-- The mean of those delays before each receipt, summed and counted as the stream runs: one sort,
-- where pairing each receipt with every earlier application of its customer grew with both.
receipt_delays as (

    select
        payment_id,
        coalesce(cast(delay_days_before as double) / nullif(applications_before, 0), 0) as usual_delay_days
    from (
        select
            payment_id,
            sum(delay_days) over (
                partition by customer_id order by event_date, is_application
                rows unbounded preceding
            ) as delay_days_before,
            count(delay_days) over (
                partition by customer_id order by event_date, is_application
                rows unbounded preceding
            ) as applications_before
        from delay_stream
    ) as running
    where payment_id is not null

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
