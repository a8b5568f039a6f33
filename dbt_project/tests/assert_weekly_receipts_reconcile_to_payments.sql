{{ config(meta={'dagster': {'ref': {'name': 'fct_receipts_weekly'}}}) }}

-- The weeks ending on the data's as-of date (every seventh row back from it) hold every receipt
-- exactly once: their count and amount are fct_payments' receipts (refunds excluded).

with

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

weeks as (

    select
        coalesce(sum(weekly.n_receipts), 0) as n_receipts,
        coalesce(sum(weekly.receipts_rc), 0) as receipts_rc
    from {{ ref('fct_receipts_weekly') }} as weekly
    cross join as_of
    where weekly.week_end_date <= as_of.as_of_date
        and mod(
            {{ days_between('weekly.week_end_date', 'as_of.as_of_date') }},
            7
        ) = 0

),

payments as (

    select
        count(*) as n_receipts,
        coalesce(sum(amount_rc), 0) as receipts_rc
    from {{ ref('fct_payments') }}
    where not is_refund

)

select
    weeks.n_receipts,
    payments.n_receipts as payments_n_receipts,
    weeks.receipts_rc,
    payments.receipts_rc as payments_receipts_rc
from weeks
cross join payments
where weeks.n_receipts != payments.n_receipts or weeks.receipts_rc != payments.receipts_rc
