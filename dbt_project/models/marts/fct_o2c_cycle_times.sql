-- Order-to-cash cycle per order: order → credit approval → first shipment → first invoice →
-- due → paid (the day the last invoice of the order is paid). Stages are null until reached.
-- An invoice without a known order (a company whose export has no orders) is a cycle of its
-- own that starts at the invoice: cycle_start = 'invoice', the order stages null.
-- Incremental by loads, by cycle (macros/incremental_by_key.sql): a run rebuilds the orders
-- fct_orders wrote since (it follows their invoices' dates and settlements), the invoices loaded
-- or settled again since, the invoices that became a cycle of their own or stopped being one,
-- the cycles of the customers loaded since or taken out of the load (segment, region), and the
-- orders gone. On Spark the model is rebuilt whole.

{{ incremental_by_loads('cycle_id', 'built_at') }}

-- depends_on: {{ ref('stg_erp__invoices') }} {{ ref('int_invoice_settlements') }}
-- (read only to find the cycles a run rebuilds)

with

-- invoices without a known order, every run (which ones they are moves with the orders)
orderless_invoices as (

    select invoices.*
    from {{ ref('fct_invoices') }} as invoices
    left join {{ ref('fct_orders') }} as all_orders on invoices.order_id = all_orders.order_id
    where all_orders.order_id is null

),

{% if is_incremental() %}
customers_loaded as (

    select customer_id from {{ ref('stg_erp__customers') }}
    where {{ loaded_since_last_build() }}

),

rebuilt as (

    -- orders fct_orders wrote since: their invoices' dates and settlements among what it follows
    select order_id as cycle_id from {{ ref('fct_orders') }}
    where {{ built_since_last_build() }}

    union

    -- invoices whose row in fct_invoices changed (days past due aside)
    {{ invoices_changed_since_last_build() }}

    union

    select order_id from {{ ref('fct_orders') }}
    where customer_id in (select customers_loaded.customer_id from customers_loaded)

    union

    select cycle_id from {{ this }}
    where customer_id in (select customers_loaded.customer_id from customers_loaded)

    union

    -- the cycles of customers taken out of the load (their segment and region unknown now)
    select kept.cycle_id from {{ this }} as kept
    where (kept.segment is not null or kept.region is not null)
        and not exists (
            select 1 from {{ ref('stg_erp__customers') }} as customers
            where customers.customer_id = kept.customer_id
        )

    union

    -- invoices that are now a cycle of their own and were not, or were and are not (their order
    -- arrived or left), and the orders gone
    select cycle_id from (
        select invoice_id as cycle_id from orderless_invoices
        except
        select cycle_id from {{ this }} where cycle_start = 'invoice'
    ) as now_orderless

    union

    {{ keys_gone('cycle_id', 'orderless_invoices', now_key='invoice_id', kept_where="cycle_start = 'invoice'") }}

    union

    {{ keys_gone('cycle_id', ref('fct_orders'), now_key='order_id', kept_where="cycle_start = 'order'") }}

),
{% endif %}

orders as (

    select * from {{ ref('fct_orders') }}
    where not is_cancelled
    {% if is_incremental() %}
        and order_id in (select rebuilt.cycle_id from rebuilt)
    {% endif %}

),

invoices as (

    select
        order_id,
        min(due_date) as first_due_date,
        max(paid_date) as last_paid_date,
        -- the order is paid when every one of its invoices is
        sum(case when paid_date is null then 1 else 0 end) as n_unpaid_invoices,
        sum(invoice_amount * days_to_pay) as amount_days_to_pay,
        sum(case when paid_date is not null then invoice_amount end) as paid_amount,
        max(terms_days) as terms_days
    from {{ ref('fct_invoices') }}
    {% if is_incremental() %}
    where order_id in (select rebuilt.cycle_id from rebuilt)
    {% endif %}
    group by order_id

),

customers as (

    select
        customer_id,
        segment,
        region,
        payment_terms_days
    from {{ ref('stg_erp__customers') }}

),

order_cycles as (

    select
        orders.order_id as cycle_id,
        'order' as cycle_start,
        orders.order_id,
        orders.customer_id,
        customers.segment,
        customers.region,
        orders.order_date,
        orders.order_date as cycle_start_date,
        orders.credit_approved_date,
        orders.first_shipment_date,
        orders.first_invoice_date,
        invoices.first_due_date,
        case when invoices.n_unpaid_invoices = 0 then invoices.last_paid_date end as paid_date,
        {{ days_between('orders.order_date', 'orders.credit_approved_date') }}
            as days_order_to_approval,
        {{ days_between('orders.credit_approved_date', 'orders.first_shipment_date') }}
            as days_approval_to_ship,
        {{ days_between('orders.order_date', 'orders.first_shipment_date') }}
            as days_order_to_ship,
        {{ days_between('orders.first_shipment_date', 'orders.first_invoice_date') }}
            as days_ship_to_invoice,
        case
            when invoices.n_unpaid_invoices = 0
                then {{ days_between('orders.first_invoice_date', 'invoices.last_paid_date') }}
        end as days_invoice_to_paid,
        case
            when invoices.n_unpaid_invoices = 0
                then {{ days_between('orders.order_date', 'invoices.last_paid_date') }}
        end as days_order_to_cash,
        -- amount-weighted days to pay of the order's invoices, less the payment terms
        case
            when invoices.n_unpaid_invoices = 0 and invoices.paid_amount > 0
                -- in decimals on every engine (DuckDB divides decimals into a double, Spark into a
                -- decimal, and a double's 0.25 rounded to 0.2 where the decimal's rounded to 0.3)
                then cast(
                        round(
                            cast(invoices.amount_days_to_pay / invoices.paid_amount as decimal(18, 6))
                            - invoices.terms_days,
                            1
                        ) as decimal(10, 1)
                    )
        end as terms_variance_days,
        invoices.terms_days
    from orders
    left join invoices on orders.order_id = invoices.order_id
    left join customers on orders.customer_id = customers.customer_id

),

invoice_cycles as (

    select
        invoices.invoice_id as cycle_id,
        'invoice' as cycle_start,
        cast(null as {{ dbt.type_string() }}) as order_id,
        invoices.customer_id,
        customers.segment,
        customers.region,
        cast(null as date) as order_date,
        invoices.invoice_date as cycle_start_date,
        cast(null as date) as credit_approved_date,
        cast(null as date) as first_shipment_date,
        invoices.invoice_date as first_invoice_date,
        invoices.due_date as first_due_date,
        invoices.paid_date,
        cast(null as integer) as days_order_to_approval,
        cast(null as integer) as days_approval_to_ship,
        cast(null as integer) as days_order_to_ship,
        cast(null as integer) as days_ship_to_invoice,
        invoices.days_to_pay as days_invoice_to_paid,
        cast(null as integer) as days_order_to_cash,
        case
            when invoices.paid_date is not null then cast(invoices.days_to_pay - invoices.terms_days as decimal(10, 1))
        end as terms_variance_days,
        invoices.terms_days
    from orderless_invoices as invoices
    left join customers on invoices.customer_id = customers.customer_id
    {% if is_incremental() %}
    where invoices.invoice_id in (select rebuilt.cycle_id from rebuilt)
    {% endif %}

),

cycles as (

    select * from order_cycles
    union all
    select * from invoice_cycles

)

select
    *,
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from cycles
{% if is_incremental() %}
-- a tombstone per rebuilt cycle (macros/incremental_by_key.sql)
union all
select
    cycle_id,
    null as cycle_start,
    null as order_id,
    null as customer_id,
    null as segment,
    null as region,
    null as order_date,
    null as cycle_start_date,
    null as credit_approved_date,
    null as first_shipment_date,
    null as first_invoice_date,
    null as first_due_date,
    null as paid_date,
    null as days_order_to_approval,
    null as days_approval_to_ship,
    null as days_order_to_ship,
    null as days_ship_to_invoice,
    null as days_invoice_to_paid,
    null as days_order_to_cash,
    null as terms_variance_days,
    null as terms_days,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
