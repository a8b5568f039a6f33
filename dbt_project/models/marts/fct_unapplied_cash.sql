-- Unapplied cash: one row per receipt with money neither applied to any invoice in the latest
-- build nor refunded, as of the data's as-of date (int_unapplied_receipts). 'on account' when
-- the paying customer is known (the customer's money, netted in net AR), 'unidentified' when
-- nobody knows who paid.

with

receipts as (

    select * from {{ ref('int_unapplied_receipts') }}

),

customers as (

    select
        customer_id,
        customer_name
    from {{ ref('stg_erp__customers') }}

)

select
    -- ids
    receipts.payment_id,
    receipts.customer_id,
    -- attributes
    customers.customer_name,
    receipts.payer_name,
    receipts.payer_account,
    receipts.payment_source,
    receipts.payment_method,
    receipts.remittance_info,
    receipts.currency,
    receipts.status,
    receipts.n_invoices_applied,
    -- amounts (transaction currency)
    receipts.amount,
    cast(receipts.applied_amount as {{ money_type() }}) as applied_amount,
    cast(receipts.unapplied_amount as {{ money_type() }}) as unapplied_amount,
    -- amounts (reporting currency, payment-date rate)
    receipts.amount_rc,
    cast(receipts.unapplied_amount_rc as {{ money_type() }}) as unapplied_amount_rc,
    -- dates
    receipts.payment_date,
    {{ days_between('receipts.payment_date', 'as_of.as_of_date') }}
        as days_unapplied
from receipts
cross join {{ ref('int_data_as_of') }} as as_of
left join customers on receipts.customer_id = customers.customer_id
