-- Sales orders with their amount in the reporting currency at the order date's rate.

with

orders as (

    select * from {{ ref('stg_erp__sales_orders') }}

),

fx as (

    select * from {{ ref('int_fx_rates_valid_ranges') }}

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
left join fx on orders.currency = fx.currency and orders.order_date between fx.valid_from and fx.valid_to
