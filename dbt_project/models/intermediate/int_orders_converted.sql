-- Sales orders with their amount in the reporting currency at the order date's rate. A view:
-- fct_orders, its one reader, converts the orders as it reads them, rather than every run
-- writing every order a second time (docs/performance.md).

{{ config(materialized='view') }}

with

orders as (

    select * from {{ ref('stg_erp__sales_orders') }}

)

select
    orders.order_id,
    orders.customer_id,
    orders.order_status,
    orders.is_cancelled,
    orders.currency,
    orders.order_amount,
    orders.order_date,
    orders.credit_approved_at,
    fx.rate as fx_rate,
    {{ to_reporting('orders.order_amount', 'fx.rate') }} as order_amount_rc
from orders
{{ join_fx_rate_as_of('orders.currency', 'orders.order_date') }}
