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

rates as (

    select * from {{ ref('int_fx_rates_valid_ranges') }}

)

select
    documents.currency,
    count(*) as n_documents,
    min(documents.document_date) as first_document_date
from documents
left join rates
    on documents.currency = rates.currency
    and documents.document_date between rates.valid_from and rates.valid_to
where rates.currency is null
group by documents.currency
