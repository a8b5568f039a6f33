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

-- the day before each period began: its AR is the period's beginning AR (the previous month-end)
days_before as (

    select
        period,
        cast({{ dbt.dateadd('day', -1, 'period_start') }} as date) as day_before
    from periods

),

beginning as (

    {{ ar_period_figures('days_before', 'period', 'day_before', 'day_before') }}

),

-- credit sales, cash collected, open AR and current AR of each period (the macro is their one home)
period_figures as (

    {{ ar_period_figures('periods', 'period', 'period_start', 'period_end') }}

),

figures as (

    select
        periods.period,
        periods.period_order,
        periods.period_start,
        periods.period_end,
        beginning.ending_ar_rc as beginning_ar_rc,
        period_figures.credit_sales_rc,
        period_figures.cash_collected_rc,
        period_figures.ending_ar_rc,
        period_figures.ending_current_ar_rc
    from periods
    inner join beginning on periods.period = beginning.period
    inner join period_figures on periods.period = period_figures.period

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
