-- Past cash forecasts against the receipts that came in: for every forecast week that has ended
-- by the data's as-of date, the receipts of its seven days (the fct_receipts_weekly week ending
-- on its week_end; 0 when none), the error and the absolute percentage error.

with

history as (

    {{ source_or_empty('forecasts', 'cash_forecast_history', [
        ('origin_date', 'date'),
        ('week', dbt.type_bigint()),
        ('week_start', 'date'),
        ('week_end', 'date'),
        ('expected_collections_rc', 'double'),
        ('naive_rc', 'double'),
    ]) }}

),

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

receipts as (

    select
        week_end_date,
        receipts_rc
    from {{ ref('fct_receipts_weekly') }}

),

ended as (

    select
        history.*,
        cast(coalesce(receipts.receipts_rc, 0) as double) as actual_rc
    from history
    cross join as_of
    left join receipts on history.week_end = receipts.week_end_date
    where history.week_end <= as_of.as_of_date

)

select
    origin_date,
    week,
    week_start,
    week_end,
    expected_collections_rc,
    naive_rc,
    actual_rc,
    expected_collections_rc - actual_rc as error_rc,
    100 * abs(expected_collections_rc - actual_rc) / nullif(actual_rc, 0) as abs_pct_error
from ended
