-- One row per sales order: what was ordered, shipped, backordered and invoiced.

with

orders as (

    select * from {{ ref('int_orders_converted') }}

),

lines as (

    select
        order_id,
        count(*) as n_lines,
        sum(quantity) as quantity_ordered,
        sum(quantity_shipped) as quantity_shipped,
        sum(case when is_backordered then quantity - quantity_shipped else 0 end) as quantity_backordered
    from {{ ref('stg_erp__sales_order_lines') }}
    group by order_id

),

shipments as (

    select
        order_id,
        count(*) as n_shipments,
        min(shipment_date) as first_shipment_date,
        max(shipment_date) as last_shipment_date
    from {{ ref('stg_erp__shipments') }}
    group by order_id

),

invoices as (

    select
        order_id,
        count(*) as n_invoices,
        sum(invoice_amount) as invoiced_amount,
        sum(invoice_amount_rc) as invoiced_amount_rc,
        sum(open_balance) as open_balance,
        min(invoice_date) as first_invoice_date
    from {{ ref('fct_invoices') }}
    group by order_id

)

select
    -- ids
    orders.order_id,
    orders.customer_id,
    -- attributes
    orders.order_status,
    orders.is_cancelled,
    orders.currency,
    coalesce(lines.n_lines, 0) as n_lines,
    coalesce(shipments.n_shipments, 0) as n_shipments,
    coalesce(invoices.n_invoices, 0) as n_invoices,
    coalesce(lines.quantity_backordered, 0) > 0 as is_backordered,
    -- quantities
    lines.quantity_ordered,
    lines.quantity_shipped,
    lines.quantity_backordered,
    -- amounts
    orders.order_amount,
    orders.order_amount_rc,
    coalesce(invoices.invoiced_amount, 0) as invoiced_amount,
    coalesce(invoices.invoiced_amount_rc, 0) as invoiced_amount_rc,
    case when orders.is_cancelled then 0 else orders.order_amount - coalesce(invoices.invoiced_amount, 0) end
        as uninvoiced_amount,
    coalesce(invoices.open_balance, 0) as open_balance,
    -- dates
    orders.order_date,
    cast(orders.credit_approved_at as date) as credit_approved_date,
    shipments.first_shipment_date,
    shipments.last_shipment_date,
    invoices.first_invoice_date,
    -- timestamps
    orders.credit_approved_at
from orders
left join lines on orders.order_id = lines.order_id
left join shipments on orders.order_id = shipments.order_id
left join invoices on orders.order_id = invoices.order_id
