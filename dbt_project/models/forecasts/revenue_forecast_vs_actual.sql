-- Past revenue forecasts against what happened: for every forecast week that has ended by the
-- data's as-of date, the invoiced revenue, order intake or order count of its seven days
-- (week_end - 6 to week_end), the error and the absolute percentage error.

with

history as (

    {{ source_or_empty('forecasts', 'revenue_forecast_history', [
        ('origin_date', 'date'),
        ('series', dbt.type_string()),
        ('week', dbt.type_bigint()),
        ('week_end', 'date'),
        ('model', dbt.type_string()),
        ('forecast', 'double'),
    ]) }}

),

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

daily as (

    select
        series,
        activity_date,
        activity_value as y
    from {{ ref('fct_revenue_daily') }}

),

ended as (

    select history.*
    from history
    cross join as_of
    where history.week_end <= as_of.as_of_date

),

actuals as (

    select
        ended.origin_date,
        ended.series,
        ended.week,
        coalesce(sum(daily.y), 0) as actual
    from ended
    left join daily
        on
        ended.series = daily.series
        and daily.activity_date between cast({{ dbt.dateadd('day', -6, 'ended.week_end') }} as date) and ended.week_end
    group by ended.origin_date, ended.series, ended.week

)

select
    ended.origin_date,
    ended.series,
    ended.week,
    ended.week_end,
    ended.model,
    ended.forecast,
    actuals.actual,
    ended.forecast - actuals.actual as error,
    100 * abs(ended.forecast - actuals.actual) / nullif(actuals.actual, 0) as abs_pct_error
from ended
inner join actuals
    on
    ended.origin_date = actuals.origin_date
    and ended.series = actuals.series
    and ended.week = actuals.week
