-- Credit exposure per customer as of the data's as-of date, in the customer's currency (the
-- credit limit's) and the reporting currency: open AR plus orders not yet invoiced, less cash
-- and credits held on account, against the credit limit.

with

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

open_ar as (

    select
        customer_id,
        sum(case when currency = customers_currency then open_balance else 0 end) as open_ar,
        sum(open_balance_rc) as open_ar_rc
    from (
        select
            invoices.*,
            customers.currency as customers_currency
        from {{ ref('fct_invoices') }} as invoices
        inner join customers on invoices.customer_id = customers.customer_id
    ) as invoices
    group by customer_id

),

uninvoiced as (

    select
        customer_id,
        sum(uninvoiced_amount) as uninvoiced_orders,
        -- each order's share to 6 decimals, so that the sum is the same on every engine
        -- (macros/cross_db.sql rounded_quotient)
        sum(cast(uninvoiced_amount * order_amount_rc / nullif(order_amount, 0) as decimal(38, 6)))
            as uninvoiced_orders_rc
    from {{ ref('fct_orders') }}
    where not is_cancelled
    group by customer_id

),

-- unapplied cash on account: the receipts of fct_unapplied_cash whose customer is known
on_account as (

    select
        customer_id,
        sum(unapplied_amount) as unapplied_cash,
        sum(unapplied_amount_rc) as unapplied_cash_rc
    from {{ ref('fct_unapplied_cash') }}
    where status = 'on account'
    group by customer_id

),

-- refunds that name no receipt (those that do are already out of fct_unapplied_cash)
refunds as (

    select
        customer_id,
        sum(amount) as refunded
    from {{ ref('fct_payments') }}
    where customer_id is not null and is_refund and original_payment_id is null
    group by customer_id

),

credits as (

    select
        customer_id,
        sum(credit_on_account) as credit_on_account
    from {{ ref('int_open_item_events') }}
    group by customer_id

),

exposure as (

    select
        customers.customer_id,
        customers.currency,
        customers.credit_limit,
        coalesce(open_ar.open_ar, 0) as open_ar,
        coalesce(on_account.unapplied_cash, 0) as unapplied_cash_on_account,
        coalesce(on_account.unapplied_cash_rc, 0) as unapplied_cash_on_account_rc,
        coalesce(uninvoiced.uninvoiced_orders, 0) as uninvoiced_orders,
        -- cash held on account: unapplied receipts (net of their refunds) less refunds that name
        -- no receipt, plus excess credits
        greatest(coalesce(on_account.unapplied_cash, 0) - coalesce(refunds.refunded, 0), 0)
        + coalesce(credits.credit_on_account, 0) as held_on_account,
        coalesce(open_ar.open_ar_rc, 0) as open_ar_rc,
        coalesce(uninvoiced.uninvoiced_orders_rc, 0) as uninvoiced_orders_rc
    from customers
    left join open_ar on customers.customer_id = open_ar.customer_id
    left join uninvoiced on customers.customer_id = uninvoiced.customer_id
    left join on_account on customers.customer_id = on_account.customer_id
    left join refunds on customers.customer_id = refunds.customer_id
    left join credits on customers.customer_id = credits.customer_id

)

select
    customer_id,
    currency,
    credit_limit,
    cast(open_ar as {{ money_type() }}) as open_ar,
    cast(uninvoiced_orders as {{ money_type() }}) as uninvoiced_orders,
    cast(held_on_account as {{ money_type() }}) as held_on_account,
    cast(open_ar + uninvoiced_orders - held_on_account as {{ money_type() }}) as exposure,
    cast(credit_limit - (open_ar + uninvoiced_orders - held_on_account) as {{ money_type() }}) as available_credit,
    {{ percent_of('open_ar + uninvoiced_orders - held_on_account', 'credit_limit', 1) }} as credit_utilisation_pct,
    open_ar + uninvoiced_orders - held_on_account > credit_limit as is_over_credit_limit,
    cast(open_ar_rc as {{ money_type() }}) as open_ar_rc,
    cast(uninvoiced_orders_rc as {{ money_type() }}) as uninvoiced_orders_rc,
    cast(unapplied_cash_on_account as {{ money_type() }}) as unapplied_cash_on_account,
    cast(unapplied_cash_on_account_rc as {{ money_type() }}) as unapplied_cash_on_account_rc
from exposure
