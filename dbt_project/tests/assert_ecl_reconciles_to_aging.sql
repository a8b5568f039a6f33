{{ config(meta={'dagster': {'ref': {'name': 'fct_expected_credit_loss'}}}) }}

-- The provision matrix's balances are the aging's, bucket by bucket at every as-of date, and no
-- bucket's allowance exceeds its balance.

with

aging as (

    select
        as_of_date,
        aging_bucket,
        sum(open_balance_rc) as open_balance_rc
    from {{ ref('fct_ar_aging') }}
    group by as_of_date, aging_bucket

)

select
    ecl.as_of_date,
    ecl.aging_bucket,
    ecl.open_balance_rc,
    aging.open_balance_rc as aged_open_balance_rc,
    ecl.expected_credit_loss_rc
from {{ ref('fct_expected_credit_loss') }} as ecl
full outer join aging
    on ecl.as_of_date = aging.as_of_date and ecl.aging_bucket = aging.aging_bucket
where ecl.as_of_date is null
    or ecl.open_balance_rc != coalesce(aging.open_balance_rc, 0)
    or ecl.expected_credit_loss_rc > ecl.open_balance_rc
    or ecl.historical_loss_rate not between 0 and 1
