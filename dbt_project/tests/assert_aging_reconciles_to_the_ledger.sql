{{ config(meta={'dagster': {'ref': {'name': 'fct_ar_aging'}}}) }}

-- For every as-of date and currency: the aging buckets sum to total open AR, and that equals
-- invoiced − credited − applied to date, computed from the documents themselves, to the cent.
-- (Credits beyond what an invoice still owed are held on account, so they are added back.)

with

as_of_dates as (

    select distinct as_of_date from {{ ref('fct_ar_aging') }}

),

aging as (

    select
        as_of_date,
        currency,
        sum(open_balance) as aged_ar
    from {{ ref('fct_ar_aging') }}
    group by as_of_date, currency

),

documents as (

    select
        as_of_dates.as_of_date,
        invoices.currency,
        invoices.invoice_amount as amount
    from as_of_dates
    inner join {{ ref('stg_erp__invoices') }} as invoices on as_of_dates.as_of_date >= invoices.invoice_date

    union all

    select
        as_of_dates.as_of_date,
        memos.currency,
        -memos.credit_amount as amount
    from as_of_dates
    inner join {{ ref('stg_erp__credit_memos') }} as memos
        on as_of_dates.as_of_date >= memos.credit_memo_date and memos.invoice_id is not null

    union all

    select
        as_of_dates.as_of_date,
        events.currency,
        events.credit_on_account as amount
    from as_of_dates
    inner join {{ ref('int_open_item_events') }} as events on as_of_dates.as_of_date >= events.effective_date

    union all

    select
        as_of_dates.as_of_date,
        invoices.currency,
        -applications.applied_amount as amount
    from as_of_dates
    inner join {{ ref('fct_cash_applications') }} as applications on as_of_dates.as_of_date >= applications.applied_date
    inner join {{ ref('stg_erp__invoices') }} as invoices on applications.invoice_id = invoices.invoice_id

),

expected as (

    select
        as_of_date,
        currency,
        sum(amount) as open_ar
    from documents
    group by as_of_date, currency

)

select
    expected.as_of_date,
    expected.currency,
    expected.open_ar,
    aging.aged_ar
from expected
left join aging on expected.as_of_date = aging.as_of_date and expected.currency = aging.currency
where coalesce(aging.aged_ar, 0) != expected.open_ar
