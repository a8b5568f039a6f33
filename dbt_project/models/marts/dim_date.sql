with

calendar as (

    select date_day from {{ ref('int_calendar') }}

)

select
    date_day,
    cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
    cast({{ dbt.last_day('date_day', 'month') }} as date) as month_end,
    cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start,
    cast({{ dbt.date_trunc('year', 'date_day') }} as date) as year_start,
    extract(year from date_day) as year_number,
    extract(month from date_day) as month_number,
    extract(day from date_day) as day_of_month,
    {{ days_between(dbt.date_trunc('month', 'date_day'), dbt.last_day('date_day', 'month')) }}
    + 1 as days_in_month,
    date_day = cast({{ dbt.last_day('date_day', 'month') }} as date) as is_month_end,
    date_day = (select as_of.as_of_date from {{ ref('int_data_as_of') }} as as_of) as is_data_as_of_date
from calendar
