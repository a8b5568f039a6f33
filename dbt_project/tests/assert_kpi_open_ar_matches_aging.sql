{{ config(meta={'dagster': {'ref': {'name': 'fct_ar_kpis_monthly'}}}) }}

-- The monthly KPIs' open and current AR are the aging's, at every month-end.

with

aging as (

    select
        as_of_date,
        sum(open_balance_rc) as open_ar_rc,
        sum(case when aging_bucket = 'current' then open_balance_rc else 0 end) as current_ar_rc
    from {{ ref('fct_ar_aging') }}
    group by as_of_date

)

select
    kpis.month_start,
    kpis.open_ar_rc,
    aging.open_ar_rc as aged_open_ar_rc
from {{ ref('fct_ar_kpis_monthly') }} as kpis
left join aging on kpis.period_end = aging.as_of_date
where kpis.open_ar_rc != coalesce(aging.open_ar_rc, 0)
    or kpis.current_ar_rc != coalesce(aging.current_ar_rc, 0)
