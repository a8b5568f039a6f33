-- Month to date against the same days of the previous month, in the reporting currency: the
-- like-for-like comparison for flows and CEI. On the 2nd of a month, the 1st–2nd against the
-- 1st–2nd of the month before, never against a whole month (docs/metrics.md, Like-for-like).
-- Two rows: `month_to_date` (the month's first day to the data's as-of date) and
-- `previous_month_same_days` (the previous month's first day to the same day of that month,
-- the previous month's last day when it is shorter). Each with the AR the day before it began,
-- its credit sales and cash, the AR and current AR at its end, and its CEI (N = 1).

with

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

periods as (

    select
        'month_to_date' as period,
        1 as period_order,
        cast({{ dbt.date_trunc('month', 'as_of_date') }} as date) as period_start,
        as_of_date as period_end
    from as_of

    union all

    -- a month back from the as-of date: Mar 31 → Feb 28 (the month's last day when it is shorter)
    select
        'previous_month_same_days' as period,
        0 as period_order,
        cast({{ dbt.dateadd('month', -1, dbt.date_trunc('month', 'as_of_date')) }} as date) as period_start,
        cast({{ dbt.dateadd('month', -1, 'as_of_date') }} as date) as period_end
    from as_of

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

intervals as (

    select * from {{ ref('int_invoice_balance_intervals') }}

),

sales as (

    select
        periods.period,
        sum(invoices.invoice_amount_rc) as credit_sales_rc
    from periods
    inner join invoices on invoices.invoice_date between periods.period_start and periods.period_end
    group by periods.period

),

cash as (

    select
        periods.period,
        sum(payments.cash_amount_rc) as cash_collected_rc
    from periods
    inner join {{ ref('int_payments_unioned') }} as payments
        on payments.payment_date between periods.period_start and periods.period_end
    group by periods.period

),

-- Open AR at the end of each period, and what of it was not yet due (as fct_ar_monthly).
ending as (

    select
        periods.period,
        sum(intervals.open_balance_rc) as ending_ar_rc,
        sum(case when invoices.due_date >= periods.period_end then intervals.open_balance_rc else 0 end)
            as ending_current_ar_rc
    from periods
    inner join intervals on periods.period_end between intervals.valid_from and intervals.valid_to
    inner join invoices on intervals.invoice_id = invoices.invoice_id
    group by periods.period

),

-- Open AR the day before each period began: the previous month-end for both.
beginning as (

    select
        periods.period,
        sum(intervals.open_balance_rc) as beginning_ar_rc
    from periods
    inner join intervals
        on cast({{ dbt.dateadd('day', -1, 'periods.period_start') }} as date)
        between intervals.valid_from and intervals.valid_to
    group by periods.period

),

figures as (

    select
        periods.period,
        periods.period_order,
        periods.period_start,
        periods.period_end,
        cast(coalesce(beginning.beginning_ar_rc, 0) as {{ money_type() }}) as beginning_ar_rc,
        cast(coalesce(sales.credit_sales_rc, 0) as {{ money_type() }}) as credit_sales_rc,
        cast(coalesce(cash.cash_collected_rc, 0) as {{ money_type() }}) as cash_collected_rc,
        cast(coalesce(ending.ending_ar_rc, 0) as {{ money_type() }}) as ending_ar_rc,
        cast(coalesce(ending.ending_current_ar_rc, 0) as {{ money_type() }}) as ending_current_ar_rc
    from periods
    left join beginning on periods.period = beginning.period
    left join sales on periods.period = sales.period
    left join cash on periods.period = cash.period
    left join ending on periods.period = ending.period

)

select
    period,
    period_order,
    period_start,
    period_end,
    1 + {{ days_between('period_start', 'period_end') }}
        as days_in_period,
    beginning_ar_rc,
    credit_sales_rc,
    cash_collected_rc,
    ending_ar_rc,
    ending_current_ar_rc,
    {{ cei_pct('beginning_ar_rc', 'credit_sales_rc', 'ending_ar_rc', 'ending_current_ar_rc') }} as cei
from figures
