-- Unapplied cash: one row per receipt (not refunds) with money not applied to any invoice in the
-- latest build, as of the data's as-of date. 'on account' when the paying customer is known
-- (the customer's money, netted in net AR), 'unidentified' when nobody knows who paid.

with

payments as (

    select * from {{ ref('fct_payments') }}
    where not is_refund and unapplied_amount > 0

),

payers as (

    select payment_id, payer_account from {{ ref('int_payments_unioned') }}

),

customers as (

    select customer_id, customer_name from {{ ref('stg_erp__customers') }}

)

select
    -- ids
    payments.payment_id,
    payments.customer_id,
    -- attributes
    customers.customer_name,
    payments.payer_name,
    payers.payer_account,
    payments.payment_source,
    payments.payment_method,
    payments.remittance_info,
    payments.currency,
    case when payments.customer_id is null then 'unidentified' else 'on account' end as status,
    payments.n_invoices_applied,
    -- amounts (transaction currency)
    payments.amount,
    payments.applied_amount,
    payments.unapplied_amount,
    -- amounts (reporting currency, payment-date rate)
    payments.amount_rc,
    payments.unapplied_amount_rc,
    -- dates
    payments.payment_date,
    {{ days_between('payments.payment_date', 'as_of.as_of_date') }} as days_unapplied
from payments
cross join {{ ref('int_data_as_of') }} as as_of
left join payers on payments.payment_id = payers.payment_id
left join customers on payments.customer_id = customers.customer_id
