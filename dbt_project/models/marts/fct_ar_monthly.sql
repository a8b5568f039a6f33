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
-- Each receipt's holding is kept as intervals between the dates its applications and refunds
-- change it, and a period end takes the interval it falls in: most receipts are applied the
-- day they arrive and hold nothing at any period end, where pairing every receipt with every
-- later period end (and summing its applications again for each) grew with both.
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

-- What was applied to and refunded of each receipt, on the date it was (an application from the
-- combined matches, a refund pointing to the receipt it returns).
receipt_events as (

    select
        payment_id,
        applied_date as changed_on,
        applied_amount,
        0 as refunded_amount
    from {{ ref('int_payments_matched_to_invoices') }}

    union all

    select
        original_payment_id as payment_id,
        payment_date as changed_on,
        0 as applied_amount,
        amount as refunded_amount
    from {{ ref('int_payments_unioned') }}
    where is_refund and original_payment_id is not null

),

-- What was applied to and refunded of each receipt by the day it arrived.
on_arrival as (

    select
        events.payment_id,
        sum(events.applied_amount) as applied_amount,
        sum(events.refunded_amount) as refunded_amount
    from receipt_events as events
    inner join receipts on events.payment_id = receipts.payment_id
    where events.changed_on <= receipts.payment_date
    group by events.payment_id

),

-- The receipts that hold something the day they arrive. What a receipt holds only falls after
-- (its applications and refunds only add up), so the others, most of them, hold nothing at any
-- period end and are not followed date by date.
holding_receipts as (

    select receipts.*
    from receipts
    left join on_arrival on receipts.payment_id = on_arrival.payment_id
    where receipts.amount_rc
        - {{ to_reporting('coalesce(on_arrival.applied_amount, 0)', 'receipts.fx_rate') }}
        - {{ to_reporting('coalesce(on_arrival.refunded_amount, 0)', 'receipts.fx_rate') }} > 0

),

-- What was applied and refunded of each such receipt on each date (none before it arrived: an
-- earlier-dated event counts from its payment date, as it did at every period end after it).
receipt_changes as (

    select
        receipts.payment_id,
        case when changes.changed_on > receipts.payment_date then changes.changed_on else receipts.payment_date end
            as changed_on,
        sum(changes.applied_amount) as applied_amount,
        sum(changes.refunded_amount) as refunded_amount
    from (
        select
            arrived.payment_id,
            arrived.payment_date as changed_on,
            0 as applied_amount,
            0 as refunded_amount
        from holding_receipts as arrived
        union all
        select
            payment_id,
            changed_on,
            applied_amount,
            refunded_amount
        from receipt_events
    ) as changes
    inner join holding_receipts as receipts on changes.payment_id = receipts.payment_id
    group by
        receipts.payment_id,
        case when changes.changed_on > receipts.payment_date then changes.changed_on else receipts.payment_date end

),

-- what had been applied and refunded of each receipt from each change to the next
receipt_balances as (

    select
        payment_id,
        changed_on as held_from,
        lead(changed_on) over (partition by payment_id order by changed_on) as held_until,
        sum(applied_amount) over (
            partition by payment_id order by changed_on rows between unbounded preceding and current row
        ) as applied_to_date,
        sum(refunded_amount) over (
            partition by payment_id order by changed_on rows between unbounded preceding and current row
        ) as refunded_to_date
    from receipt_changes

),

-- what each receipt held from each change to the next, in the reporting currency
held as (

    select
        balances.held_from,
        coalesce(balances.held_until, {{ date_literal('9999-12-31') }}) as held_until,
        receipts.customer_id,
        greatest(
            receipts.amount_rc
            - {{ to_reporting('balances.applied_to_date', 'receipts.fx_rate') }}
            - {{ to_reporting('balances.refunded_to_date', 'receipts.fx_rate') }},
            0
        ) as held_rc
    from receipt_balances as balances
    inner join holding_receipts as receipts on balances.payment_id = receipts.payment_id

),

-- Only the intervals that hold something meet the period ends (most hold nothing), on two
-- plain inequalities the engine joins as a range.
held_by_period as (

    select
        periods.month_start,
        held.customer_id,
        held.held_rc
    from periods
    inner join held
        on periods.period_end >= held.held_from
        and periods.period_end < held.held_until
    where held.held_rc > 0

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
