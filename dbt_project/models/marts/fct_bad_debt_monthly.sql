-- Bad debt by calendar month, in the reporting currency (docs/metrics.md):
--   written off     = write-offs dated in the month (fct_write_offs, write-off-date rate)
--   bad-debt ratio  = written off ÷ credit sales over the trailing bad_debt_window_months
--                     (incl. the month) × 100; write-offs lag the sales they belong to by
--                     months, so one month's write-offs over its own sales would say little
--   allowance       = the expected credit loss at the month's period end (fct_expected_credit_loss)
--                     and its share of the open AR then

with

monthly as (

    select
        month_start,
        period_end,
        credit_sales_rc,
        row_number() over (order by month_start) as month_index
    from {{ ref('fct_ar_monthly') }}

),

written_off as (

    select
        monthly.month_start,
        sum(write_offs.amount_rc) as written_off_rc,
        count(*) as write_offs
    from monthly
    inner join {{ ref('fct_write_offs') }} as write_offs
        on write_offs.write_off_date between monthly.month_start and monthly.period_end
    group by monthly.month_start

),

months as (

    select
        monthly.*,
        cast(coalesce(written_off.written_off_rc, 0) as {{ money_type() }}) as written_off_rc,
        coalesce(written_off.write_offs, 0) as write_offs
    from monthly
    left join written_off on monthly.month_start = written_off.month_start

),

trailing_window as (

    select
        m.month_start,
        sum(w.credit_sales_rc) as trailing_credit_sales_rc,
        sum(w.written_off_rc) as trailing_written_off_rc
    from months as m
    inner join months as w
        on w.month_index between m.month_index - {{ var('bad_debt_window_months') - 1 }} and m.month_index
    group by m.month_start

),

allowance as (

    select
        as_of_date,
        sum(open_balance_rc) as open_ar_rc,
        sum(expected_credit_loss_rc) as expected_credit_loss_rc,
        count(historical_loss_rate) as buckets_with_history
    from {{ ref('fct_expected_credit_loss') }}
    group by as_of_date

)

select
    months.month_start,
    months.period_end,
    -- flows of the month
    months.credit_sales_rc,
    months.written_off_rc,
    months.write_offs,
    -- trailing window
    cast(trailing_window.trailing_credit_sales_rc as {{ money_type() }}) as trailing_credit_sales_rc,
    cast(trailing_window.trailing_written_off_rc as {{ money_type() }}) as trailing_written_off_rc,
    {{ percent_of(
        'trailing_window.trailing_written_off_rc', 'trailing_window.trailing_credit_sales_rc', 2
    ) }} as bad_debt_ratio,
    -- allowance at the period end
    cast(coalesce(allowance.open_ar_rc, 0) as {{ money_type() }}) as open_ar_rc,
    cast(allowance.expected_credit_loss_rc as {{ money_type() }}) as expected_credit_loss_rc,
    {{ percent_of('allowance.expected_credit_loss_rc', 'allowance.open_ar_rc', 2) }} as allowance_pct_of_open_ar,
    coalesce(allowance.buckets_with_history, 0) as ecl_buckets_with_history
from months
inner join trailing_window on months.month_start = trailing_window.month_start
left join allowance on months.period_end = allowance.as_of_date
order by months.month_start
