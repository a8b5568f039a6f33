-- Expected credit loss allowance by aging bucket: a provision matrix (IFRS 9 simplified
-- approach) from the company's own history. Definitions and worked example: docs/metrics.md.
--   cohort       = the open items of one month-end in one aging bucket
--   outcome      = the part of a cohort's balance written off in the ecl_outcome_months after
--                  its month-end (write-off events of the open-item ledger, invoice-date rate,
--                  the same basis as the aging's open_balance_rc)
--   loss rate    = Σ outcomes ÷ Σ balances over the cohorts whose outcome window has ended by
--                  the as-of date (point in time: a past row keeps the rate known then)
--   allowance    = open balance of the bucket × loss rate; empty while a bucket has no cohort
--                  with a known outcome (no history is not a zero loss rate)

with

as_of_dates as (

    select as_of_date from {{ ref('int_as_of_dates') }}

),

aging as (

    select
        as_of_date,
        invoice_id,
        aging_bucket,
        open_balance_rc
    from {{ ref('fct_ar_aging') }}

),

-- The labels and order of fct_ar_aging, which owns the bucket rule.
buckets as (

    select distinct
        aging_bucket,
        aging_bucket_order
    from {{ ref('fct_ar_aging') }}

),

write_offs as (

    select
        invoice_id,
        effective_date,
        -amount_rc as written_off_rc
    from {{ ref('int_open_item_events') }}
    where event_type = 'write_off'

),

cohort_items as (

    select
        as_of_date as month_end,
        cast({{ dbt.last_day(dbt.dateadd('month', var('ecl_outcome_months'), 'as_of_date'), 'month') }} as date)
            as outcome_date,
        invoice_id,
        aging_bucket,
        open_balance_rc
    from aging
    where as_of_date = cast({{ dbt.last_day('as_of_date', 'month') }} as date)

),

later_write_offs as (

    select
        cohort_items.month_end,
        cohort_items.invoice_id,
        sum(write_offs.written_off_rc) as written_off_rc
    from cohort_items
    inner join write_offs
        on cohort_items.invoice_id = write_offs.invoice_id
        and cohort_items.month_end < write_offs.effective_date
        and cohort_items.outcome_date >= write_offs.effective_date
    group by cohort_items.month_end, cohort_items.invoice_id

),

cohorts as (

    select
        cohort_items.month_end,
        cohort_items.outcome_date,
        cohort_items.aging_bucket,
        sum(cohort_items.open_balance_rc) as balance_rc,
        sum(coalesce(later_write_offs.written_off_rc, 0)) as written_off_rc
    from cohort_items
    left join later_write_offs
        on cohort_items.month_end = later_write_offs.month_end
        and cohort_items.invoice_id = later_write_offs.invoice_id
    group by cohort_items.month_end, cohort_items.outcome_date, cohort_items.aging_bucket

),

loss_rates as (

    select
        as_of_dates.as_of_date,
        cohorts.aging_bucket,
        count(*) as months_of_history,
        sum(cohorts.balance_rc) as history_balance_rc,
        sum(cohorts.written_off_rc) as history_written_off_rc
    from as_of_dates
    inner join cohorts on as_of_dates.as_of_date >= cohorts.outcome_date
    group by as_of_dates.as_of_date, cohorts.aging_bucket

),

balances as (

    select
        as_of_date,
        aging_bucket,
        sum(open_balance_rc) as open_balance_rc
    from aging
    group by as_of_date, aging_bucket

),

matrix as (

    select
        as_of_dates.as_of_date,
        buckets.aging_bucket,
        buckets.aging_bucket_order,
        cast(coalesce(balances.open_balance_rc, 0) as {{ money_type() }}) as open_balance_rc,
        coalesce(loss_rates.months_of_history, 0) as months_of_history,
        cast(coalesce(loss_rates.history_balance_rc, 0) as {{ money_type() }}) as history_balance_rc,
        cast(coalesce(loss_rates.history_written_off_rc, 0) as {{ money_type() }}) as history_written_off_rc,
        {{ rounded_ratio(
            'loss_rates.history_written_off_rc', 'loss_rates.history_balance_rc', 4
        ) }} as historical_loss_rate
    from as_of_dates
    cross join buckets
    left join balances
        on as_of_dates.as_of_date = balances.as_of_date and buckets.aging_bucket = balances.aging_bucket
    left join loss_rates
        on as_of_dates.as_of_date = loss_rates.as_of_date and buckets.aging_bucket = loss_rates.aging_bucket

)

select
    {{ dbt.concat(["cast(as_of_date as " ~ dbt.type_string() ~ ")", "'|'", "aging_bucket"]) }} as ecl_id,
    as_of_date,
    aging_bucket,
    aging_bucket_order,
    open_balance_rc,
    months_of_history,
    history_balance_rc,
    history_written_off_rc,
    historical_loss_rate,
    cast(round(open_balance_rc * historical_loss_rate, 2) as {{ money_type() }}) as expected_credit_loss_rc
from matrix
order by as_of_date, aging_bucket_order
