-- Weekly AR KPIs in the reporting currency: the overview's week view and the CFO digest's "this
-- week against last week". A week is the seven days ending on the data's as-of date, and every
-- seven days before it (as fct_receipts_weekly's weeks ending on the as-of date), so every week
-- is complete: seven whole days, never a week still running compared with a whole one.
-- The last `weekly_kpi_weeks` (default 104) weeks that end on or after the first invoice.
--   flows        invoiced (credit sales) and cash collected in the week, as fct_ar_monthly, and
--                the amounts of the disputes opened in it
--   balances     open AR and current AR at the week's end; beginning AR = the previous week's end
--   CEI (N = 1)  the one formula, macro cei_pct, over the week
--   DSO, BPDSO   ending (current) AR ÷ credit sales of the trailing `dso_window_weeks` (13) weeks
--                × their days (91): the weekly counterpart of the 3-month simple DSO
--   ADD          DSO − BPDSO

{% set weeks = var('weekly_kpi_weeks', 104) %}
{% set dso_weeks = var('dso_window_weeks', 13) %}

with

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

first_invoice as (

    select min(invoice_date) as first_invoice_date from {{ ref('fct_invoices') }}

),

numbers as (

    {{ dbt.generate_series(weeks + 1) }}

),

-- week 0 ends on the as-of date, week k seven·k days before; one week more than shown, whose
-- ending AR is the first shown week's beginning AR
weeks as (

    select
        numbers.generated_number - 1 as weeks_back,
        cast({{ dbt.dateadd('day', '-7 * (numbers.generated_number - 1)', 'as_of.as_of_date') }} as date)
            as week_end_date
    from numbers
    cross join as_of

),

periods as (

    select
        weeks.weeks_back,
        cast({{ dbt.dateadd('day', -6, 'weeks.week_end_date') }} as date) as week_start_date,
        weeks.week_end_date,
        -- the first day of the trailing DSO window that ends with this week
        cast({{ dbt.dateadd('day', -(7 * dso_weeks - 1), 'weeks.week_end_date') }} as date) as dso_window_start
    from weeks

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

sales as (

    select
        periods.weeks_back,
        sum(case when invoices.invoice_date >= periods.week_start_date then invoices.invoice_amount_rc else 0 end)
            as credit_sales_rc,
        sum(invoices.invoice_amount_rc) as window_sales_rc
    from periods
    inner join invoices on invoices.invoice_date between periods.dso_window_start and periods.week_end_date
    group by periods.weeks_back

),

cash as (

    select
        periods.weeks_back,
        sum(payments.cash_amount_rc) as cash_collected_rc
    from periods
    inner join {{ ref('int_payments_unioned') }} as payments
        on payments.payment_date between periods.week_start_date and periods.week_end_date
    group by periods.weeks_back

),

disputes as (

    select
        periods.weeks_back,
        sum(disputes.disputed_amount_rc) as disputes_opened_rc
    from periods
    inner join {{ ref('fct_disputes') }} as disputes
        on disputes.opened_date between periods.week_start_date and periods.week_end_date
    group by periods.weeks_back

),

-- Open AR at the end of each week, and what of it was not yet due (as fct_ar_monthly).
balances as (

    select
        periods.weeks_back,
        sum(intervals.open_balance_rc) as ending_ar_rc,
        sum(case when invoices.due_date >= periods.week_end_date then intervals.open_balance_rc else 0 end)
            as ending_current_ar_rc
    from periods
    inner join {{ ref('int_invoice_balance_intervals') }} as intervals
        on periods.week_end_date between intervals.valid_from and intervals.valid_to
    inner join invoices on intervals.invoice_id = invoices.invoice_id
    group by periods.weeks_back

),

figures as (

    select
        periods.weeks_back,
        periods.week_start_date,
        periods.week_end_date,
        cast(coalesce(sales.credit_sales_rc, 0) as {{ money_type() }}) as credit_sales_rc,
        cast(coalesce(sales.window_sales_rc, 0) as {{ money_type() }}) as window_sales_rc,
        cast(coalesce(cash.cash_collected_rc, 0) as {{ money_type() }}) as cash_collected_rc,
        cast(coalesce(disputes.disputes_opened_rc, 0) as {{ money_type() }}) as disputes_opened_rc,
        cast(coalesce(balances.ending_ar_rc, 0) as {{ money_type() }}) as ending_ar_rc,
        cast(coalesce(balances.ending_current_ar_rc, 0) as {{ money_type() }}) as ending_current_ar_rc,
        cast(coalesce(
            lag(balances.ending_ar_rc) over (order by periods.weeks_back desc), 0
        ) as {{ money_type() }}) as beginning_ar_rc
    from periods
    left join sales on periods.weeks_back = sales.weeks_back
    left join cash on periods.weeks_back = cash.weeks_back
    left join disputes on periods.weeks_back = disputes.weeks_back
    left join balances on periods.weeks_back = balances.weeks_back

)

select
    figures.week_start_date,
    figures.week_end_date,
    figures.weeks_back,
    7 as days_in_period,
    figures.beginning_ar_rc,
    figures.credit_sales_rc,
    figures.cash_collected_rc,
    figures.disputes_opened_rc,
    figures.ending_ar_rc as open_ar_rc,
    figures.ending_current_ar_rc as current_ar_rc,
    cast(figures.ending_ar_rc - figures.ending_current_ar_rc as {{ money_type() }}) as overdue_ar_rc,
    figures.window_sales_rc as dso_window_sales_rc,
    round(cast(100.0 * figures.ending_current_ar_rc / nullif(figures.ending_ar_rc, 0) as double), 2) as pct_current,
    round(cast(figures.ending_ar_rc / nullif(figures.window_sales_rc, 0) * {{ 7 * dso_weeks }} as double), 2)
        as dso_simple,
    round(cast(figures.ending_current_ar_rc / nullif(figures.window_sales_rc, 0) * {{ 7 * dso_weeks }} as double), 2)
        as bpdso,
    round(cast(
        (figures.ending_ar_rc - figures.ending_current_ar_rc) / nullif(figures.window_sales_rc, 0) * {{ 7 * dso_weeks }}
        as double
    ), 2) as add_days,
    {{ cei_pct(
        'figures.beginning_ar_rc', 'figures.credit_sales_rc', 'figures.ending_ar_rc', 'figures.ending_current_ar_rc'
    ) }} as cei
from figures
cross join first_invoice
-- the extra, oldest week only lent its ending AR; weeks before the first invoice hold nothing
where figures.weeks_back < {{ weeks }}
    and figures.week_end_date >= first_invoice.first_invoice_date
