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

-- every document's effect on open AR, on its date
documents as (

    select
        invoice_date as document_date,
        currency,
        invoice_amount as amount
    from {{ ref('stg_erp__invoices') }}

    union all

    select
        credit_memo_date as document_date,
        currency,
        -credit_amount as amount
    from {{ ref('stg_erp__credit_memos') }}
    where invoice_id is not null

    union all

    select
        effective_date as document_date,
        currency,
        credit_on_account as amount
    from {{ ref('int_open_item_events') }}

    union all

    select
        applications.applied_date as document_date,
        invoices.currency,
        -applications.applied_amount as amount
    from {{ ref('fct_cash_applications') }} as applications
    inner join {{ ref('stg_erp__invoices') }} as invoices on applications.invoice_id = invoices.invoice_id

),

-- summed by day first, so that each as-of date adds up days, not documents
daily as (

    select
        document_date,
        currency,
        sum(amount) as amount
    from documents
    group by document_date, currency

),

expected as (

    select
        as_of_dates.as_of_date,
        daily.currency,
        sum(daily.amount) as open_ar
    from as_of_dates
    inner join daily on as_of_dates.as_of_date >= daily.document_date
    group by as_of_dates.as_of_date, daily.currency

)

select
    expected.as_of_date,
    expected.currency,
    expected.open_ar,
    aging.aged_ar
from expected
left join aging on expected.as_of_date = aging.as_of_date and expected.currency = aging.currency
where coalesce(aging.aged_ar, 0) != expected.open_ar
