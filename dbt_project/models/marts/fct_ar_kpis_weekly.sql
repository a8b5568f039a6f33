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

-- credit sales, cash collected, open AR and current AR of each week (the macro is their one home)
week_figures as (

    {{ ar_period_figures('periods', 'weeks_back', 'week_start_date', 'week_end_date') }}

),

sales_by_day as (

    {{ sales_by_day() }}

),

-- credit sales of the trailing DSO window that ends with each week
window_sales as (

    select
        periods.weeks_back,
        sum(invoices.invoice_amount_rc) as window_sales_rc
    from periods
    inner join sales_by_day as invoices
        on invoices.invoice_date between periods.dso_window_start and periods.week_end_date
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

figures as (

    select
        periods.weeks_back,
        periods.week_start_date,
        periods.week_end_date,
        week_figures.credit_sales_rc,
        cast(coalesce(window_sales.window_sales_rc, 0) as {{ money_type() }}) as window_sales_rc,
        week_figures.cash_collected_rc,
        cast(coalesce(disputes.disputes_opened_rc, 0) as {{ money_type() }}) as disputes_opened_rc,
        week_figures.ending_ar_rc,
        week_figures.ending_current_ar_rc,
        cast(coalesce(
            lag(week_figures.ending_ar_rc) over (order by periods.weeks_back desc), 0
        ) as {{ money_type() }}) as beginning_ar_rc
    from periods
    inner join week_figures on periods.weeks_back = week_figures.weeks_back
    left join window_sales on periods.weeks_back = window_sales.weeks_back
    left join disputes on periods.weeks_back = disputes.weeks_back

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
    {{ pct_current('figures.ending_ar_rc', 'figures.ending_current_ar_rc') }} as pct_current,
    {{ days_of_sales('figures.ending_ar_rc', 'figures.window_sales_rc', 7 * dso_weeks) }} as dso_simple,
    {{ days_of_sales('figures.ending_current_ar_rc', 'figures.window_sales_rc', 7 * dso_weeks) }} as bpdso,
    {{ days_of_sales(
        '(figures.ending_ar_rc - figures.ending_current_ar_rc)', 'figures.window_sales_rc', 7 * dso_weeks
    ) }} as add_days,
    {{ cei_pct(
        'figures.beginning_ar_rc', 'figures.credit_sales_rc', 'figures.ending_ar_rc', 'figures.ending_current_ar_rc'
    ) }} as cei
from figures
cross join first_invoice
-- the extra, oldest week only lent its ending AR; weeks before the first invoice hold nothing
where figures.weeks_back < {{ weeks }}
    and figures.week_end_date >= first_invoice.first_invoice_date
