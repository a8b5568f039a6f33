-- One row per sales order: what was ordered, shipped, backordered and invoiced.
-- Incremental by loads, by order (macros/incremental_by_key.sql): a run rebuilds the orders
-- loaded since, those with a line, shipment or invoice loaded since, those with an invoice whose
-- settlement was rebuilt since (an invoice's amounts and balance in fct_invoices are its
-- settlement's; its days past due, which move every day, are not read here), those dated where a
-- rate loaded since holds, those that lost a line, shipment or invoice (taken out of the raw load,
-- or loaded again on another order), and those gone. On Spark the model is rebuilt whole.

{{ incremental_by_loads('order_id', 'built_at') }}

-- depends_on: {{ ref('stg_fx__fx_rates') }} {{ ref('int_invoice_settlements') }} {{ ref('stg_erp__invoices') }}
-- (read only to find the orders a run rebuilds)

{#- what an order counts of each of its parts: the relation, and the count it keeps -#}
{% set parts = [
    (ref('stg_erp__sales_order_lines'), 'n_lines'),
    (ref('stg_erp__shipments'), 'n_shipments'),
    (ref('fct_invoices'), 'n_invoices'),
] %}

with

{% if is_incremental() %}
arrived as (

    select order_id from {{ ref('stg_erp__sales_orders') }}
    where {{ loaded_since_last_build() }}

    union

    select order_id from {{ ref('stg_erp__sales_order_lines') }}
    where {{ loaded_since_last_build() }}

    union

    select order_id from {{ ref('stg_erp__shipments') }}
    where {{ loaded_since_last_build() }}

    union

    -- the orders of invoices whose row in fct_invoices changed (days past due aside)
    select invoices.order_id
    from {{ ref('stg_erp__invoices') }} as invoices
    inner join ({{ invoices_changed_since_last_build() }}) as changed on invoices.invoice_id = changed.invoice_id

    union

    -- orders dated where a rate loaded since holds
    select orders.order_id
    from {{ ref('stg_erp__sales_orders') }} as orders
    inner join ({{ dates_a_rate_loaded_since_reaches() }}) as rates_from
        on orders.currency = rates_from.currency and orders.order_date >= rates_from.from_date

),

{{ keys_that_lost_rows('order_id', parts) }}

rebuilt as (

    select order_id from arrived
    where order_id is not null

    union

    select order_id from keys_that_lost_rows

    union

    {{ keys_gone('order_id', ref('stg_erp__sales_orders')) }}

),
{% endif %}

-- The orders rebuilt, with the amount in the reporting currency at the order date's rate, found
-- for those alone: a filter after the as-of join is not carried below it (at l, every order's
-- rate cost 5.0 CPU-s a day).
orders as (

    select
        orders.*,
        {{ to_reporting('orders.order_amount', 'fx.rate') }} as order_amount_rc
    from (
        select * from {{ ref('stg_erp__sales_orders') }}
        {% if is_incremental() %}
        where order_id in (select rebuilt.order_id from rebuilt)
        {% endif %}
    ) as orders
    {{ join_fx_rate_as_of('orders.currency', 'orders.order_date') }}

),

lines as (

    select
        order_id,
        count(*) as n_lines,
        sum(quantity) as quantity_ordered,
        sum(quantity_shipped) as quantity_shipped,
        sum(case when is_backordered then quantity - quantity_shipped else 0 end) as quantity_backordered
    from {{ ref('stg_erp__sales_order_lines') }}
    {% if is_incremental() %}
    where order_id in (select rebuilt.order_id from rebuilt)
    {% endif %}
    group by order_id

),

shipments as (

    select
        order_id,
        count(*) as n_shipments,
        min(shipment_date) as first_shipment_date,
        max(shipment_date) as last_shipment_date
    from {{ ref('stg_erp__shipments') }}
    {% if is_incremental() %}
    where order_id in (select rebuilt.order_id from rebuilt)
    {% endif %}
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
    {% if is_incremental() %}
    where order_id in (select rebuilt.order_id from rebuilt)
    {% endif %}
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
    orders.credit_approved_at,
    -- bookkeeping
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from orders
left join lines on orders.order_id = lines.order_id
left join shipments on orders.order_id = shipments.order_id
left join invoices on orders.order_id = invoices.order_id
{% if is_incremental() %}
-- a tombstone per rebuilt order (macros/incremental_by_key.sql)
union all
select
    order_id,
    null as customer_id,
    null as order_status,
    null as is_cancelled,
    null as currency,
    null as n_lines,
    null as n_shipments,
    null as n_invoices,
    null as is_backordered,
    null as quantity_ordered,
    null as quantity_shipped,
    null as quantity_backordered,
    null as order_amount,
    null as order_amount_rc,
    null as invoiced_amount,
    null as invoiced_amount_rc,
    null as uninvoiced_amount,
    null as open_balance,
    null as order_date,
    null as credit_approved_date,
    null as first_shipment_date,
    null as last_shipment_date,
    null as first_invoice_date,
    null as credit_approved_at,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
