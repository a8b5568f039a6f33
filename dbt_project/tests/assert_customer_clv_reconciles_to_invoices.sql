{{ config(meta={'dagster': {'ref': {'name': 'fct_customer_lifetime_value'}}}) }}

-- Historical CLV loses no revenue: Σ net revenue over customers = invoiced − credited in fct_invoices.

with

clv as (

    select sum(net_revenue_rc) as net_revenue_rc from {{ ref('fct_customer_lifetime_value') }}

),

invoices as (

    select sum(invoice_amount_rc) - sum(credited_amount_rc) as net_revenue_rc from {{ ref('fct_invoices') }}

)

select
    clv.net_revenue_rc,
    invoices.net_revenue_rc as invoiced_net_rc
from clv
cross join invoices
where clv.net_revenue_rc != invoices.net_revenue_rc
