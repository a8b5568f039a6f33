{{ config(meta={'dagster': {'ref': {'name': 'int_fx_rates_valid_ranges'}}}) }}

-- Every currency of an order, invoice, credit memo or payment that is not the reporting currency
-- needs FX rates (fx_rates), or its reporting-currency amounts are unknown. One row per currency
-- without a rate: the currency, how many documents use it and the first one's date.

with

documents as (

    select
        currency,
        order_date as document_date
    from {{ ref('stg_erp__sales_orders') }}
    union all
    select
        currency,
        invoice_date
    from {{ ref('stg_erp__invoices') }}
    union all
    select
        currency,
        credit_memo_date
    from {{ ref('stg_erp__credit_memos') }}
    union all
    select
        currency,
        payment_date
    from {{ ref('int_payments_unioned') }}

),

-- Counted by currency and day first: the days meet the rates' ranges, not every document (a
-- few thousand rows instead of tens of millions in the range join).
documents_per_day as (

    select
        currency,
        document_date,
        count(*) as n_documents
    from documents
    group by currency, document_date

),

rates as (

    select * from {{ ref('int_fx_rates_valid_ranges') }}

)

select
    documents_per_day.currency,
    sum(documents_per_day.n_documents) as n_documents,
    min(documents_per_day.document_date) as first_document_date
from documents_per_day
left join rates
    on documents_per_day.currency = rates.currency
    and documents_per_day.document_date between rates.valid_from and rates.valid_to
where rates.currency is null
group by documents_per_day.currency
