-- Customer receipts by week, the one home of "weekly receipts": money received from customers
-- (refunds excluded) in the reporting currency. One row per day from the first receipt to six
-- days after the data's as-of date, holding the receipts of the seven days ending on it, so a
-- week can end on any day: the dashboards and the CFO digest read the weeks ending on the as-of
-- date, the cash forecast and its backtests the weeks ending 7, 14 … days after (or before) their
-- origin. The last six rows are weeks not over yet (is_complete false): the receipts so far,
-- which the backtests score a forecast's last, partly observed week against.

with

receipts as (

    select
        payment_date,
        amount_rc
    from {{ ref('fct_payments') }}
    where not is_refund

),

daily as (

    select
        payment_date,
        count(*) as n_receipts,
        sum(amount_rc) as receipts_rc
    from receipts
    group by payment_date

),

bounds as (

    select
        min(daily.payment_date) as first_date,
        max(as_of.as_of_date) as as_of_date
    from daily
    cross join {{ ref('int_data_as_of') }} as as_of

),

numbers as (

    {{ dbt.generate_series(var('calendar_max_days', 7320)) }}

),

days as (

    select cast({{ dbt.dateadd('day', 'numbers.generated_number - 1', 'bounds.first_date') }} as date) as week_end_date
    from bounds
    cross join numbers
    where cast({{ dbt.dateadd('day', 'numbers.generated_number - 1', 'bounds.first_date') }} as date)
        <= cast({{ dbt.dateadd('day', 6, 'bounds.as_of_date') }} as date)

),

-- every day, so the seven rows up to a day are its week
dense as (

    select
        days.week_end_date,
        coalesce(daily.n_receipts, 0) as n_receipts,
        coalesce(daily.receipts_rc, 0) as receipts_rc
    from days
    left join daily on days.week_end_date = daily.payment_date

)

select
    cast({{ dbt.dateadd('day', -6, 'dense.week_end_date') }} as date) as week_start_date,
    dense.week_end_date,
    dense.week_end_date <= bounds.as_of_date as is_complete,
    cast(
        sum(dense.n_receipts) over (order by dense.week_end_date rows between 6 preceding and current row)
        as {{ dbt.type_bigint() }}
    ) as n_receipts,
    cast(
        sum(dense.receipts_rc) over (order by dense.week_end_date rows between 6 preceding and current row)
        as {{ money_type() }}
    ) as receipts_rc
from dense
cross join bounds
order by dense.week_end_date
