-- The monthly series the AR KPIs are computed from, in the reporting currency: one row per
-- calendar month up to the data's as-of date (the current month runs to that date).

with

months as (

    select distinct
        month_start,
        month_end
    from {{ ref('dim_date') }}
    where month_start <= (select as_of.as_of_date from {{ ref('int_data_as_of') }} as as_of)
        and month_end >= (select min(invoices.invoice_date) from {{ ref('stg_erp__invoices') }} as invoices)

),

periods as (

    select
        months.month_start,
        case when months.month_end > as_of.as_of_date then as_of.as_of_date else months.month_end end as period_end
    from months
    cross join {{ ref('int_data_as_of') }} as as_of

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

-- credit sales, cash collected, open AR and current AR of each month (the macro is their one home)
figures as (

    {{ ar_period_figures('periods', 'month_start', 'month_start', 'period_end') }}

),

paid as (

    select
        periods.month_start,
        sum(invoices.invoice_amount_rc) as paid_invoice_amount_rc,
        sum(invoices.invoice_amount_rc * invoices.days_to_pay) as amount_days_to_pay_rc,
        sum(invoices.invoice_amount_rc * case when invoices.days_late > 0 then invoices.days_late else 0 end)
            as amount_days_late_rc
    from periods
    inner join invoices on invoices.paid_date between periods.month_start and periods.period_end
    group by periods.month_start

),

-- Unapplied cash as of each period end: receipts dated on or before it, less what was applied
-- to invoices by then (applications carry their applied date) and less what was refunded of
-- them by then (money returned is no longer held; never below zero per receipt), at the
-- payment-date rate as in fct_payments. On account = the paying customer is known (what net AR
-- deducts). fct_unapplied_cash is the same rule as of the data's date, receipt by receipt.
receipts as (

    select
        payment_id,
        customer_id,
        payment_date,
        amount_rc,
        fx_rate
    from {{ ref('int_payments_unioned') }}
    where payment_type = 'payment'

),

applied_by_period as (

    select
        periods.month_start,
        applications.payment_id,
        sum(applications.applied_amount) as applied_amount
    from periods
    inner join {{ ref('int_payments_matched_to_invoices') }} as applications
        on periods.period_end >= applications.applied_date
    group by periods.month_start, applications.payment_id

),

refunded_by_period as (

    select
        periods.month_start,
        refunds.original_payment_id as payment_id,
        sum(refunds.amount) as refunded_amount
    from periods
    inner join {{ ref('int_payments_unioned') }} as refunds
        on refunds.is_refund and periods.period_end >= refunds.payment_date
    where refunds.original_payment_id is not null
    group by periods.month_start, refunds.original_payment_id

),

held_by_period as (

    select
        periods.month_start,
        receipts.customer_id,
        greatest(
            receipts.amount_rc
            - {{ to_reporting('coalesce(applied.applied_amount, 0)', 'receipts.fx_rate') }}
            - {{ to_reporting('coalesce(refunded.refunded_amount, 0)', 'receipts.fx_rate') }},
            0
        ) as held_rc
    from periods
    inner join receipts on periods.period_end >= receipts.payment_date
    left join applied_by_period as applied
        on periods.month_start = applied.month_start and receipts.payment_id = applied.payment_id
    left join refunded_by_period as refunded
        on periods.month_start = refunded.month_start and receipts.payment_id = refunded.payment_id

),

unapplied as (

    select
        month_start,
        sum(held_rc) as unapplied_cash_rc,
        sum(case when customer_id is not null then held_rc else 0 end) as unapplied_on_account_rc
    from held_by_period
    group by month_start

)

select
    periods.month_start,
    periods.period_end,
    {{ days_between('periods.month_start', 'periods.period_end') }}
    + 1 as days_in_period,
    figures.credit_sales_rc,
    figures.ending_ar_rc,
    figures.ending_current_ar_rc,
    figures.cash_collected_rc,
    cast(coalesce(paid.paid_invoice_amount_rc, 0) as {{ money_type() }}) as paid_invoice_amount_rc,
    coalesce(paid.amount_days_to_pay_rc, 0) as amount_days_to_pay_rc,
    coalesce(paid.amount_days_late_rc, 0) as amount_days_late_rc,
    cast(coalesce(unapplied.unapplied_cash_rc, 0) as {{ money_type() }}) as unapplied_cash_rc,
    cast(coalesce(unapplied.unapplied_on_account_rc, 0) as {{ money_type() }}) as unapplied_on_account_rc
from periods
inner join figures on periods.month_start = figures.month_start
left join paid on periods.month_start = paid.month_start
left join unapplied on periods.month_start = unapplied.month_start
