{{ config(meta={'dagster': {'ref': {'name': 'fct_payments'}}}) }}

-- Every unit of cash received is either applied to invoices or unapplied (on account), per
-- currency; and no payment is applied beyond its amount.

with

received as (

    select
        currency,
        sum(amount) as received,
        sum(unapplied_amount) as unapplied
    from {{ ref('fct_payments') }}
    where not is_refund
    group by currency

),

applied as (

    select
        currency,
        sum(applied_amount) as applied
    from {{ ref('fct_cash_applications') }}
    group by currency

)

select
    received.currency,
    received.received,
    applied.applied,
    received.unapplied
from received
left join applied on received.currency = applied.currency
where received.received != coalesce(applied.applied, 0) + received.unapplied

union all

select
    payments.currency,
    payments.amount,
    payments.applied_amount,
    payments.unapplied_amount
from {{ ref('fct_payments') }} as payments
where payments.applied_amount > payments.amount
