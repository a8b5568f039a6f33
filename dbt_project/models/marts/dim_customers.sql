-- Customers with their terms, credit limit, collector and payment behaviour.
-- collector_group is the one home of the "unassigned" rule: the collector whose worklist and
-- daily email a customer's items are on, 'unassigned' for a customer without a collector (every
-- customer, when the data has no collectors); the worklist, the collectors' daily totals
-- (fct_collector_daily), the email and the page all group by it.

with

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

collectors as (

    select * from {{ ref('stg_erp__collectors') }}

),

behaviour as (

    select * from {{ ref('fct_customer_payment_behaviour') }}

),

exposure as (

    select * from {{ ref('fct_customer_credit_exposure') }}

)

select
    -- ids
    customers.customer_id,
    customers.collector_id,
    -- attributes
    customers.customer_name,
    customers.source_system,
    customers.segment,
    customers.region,
    customers.country,
    customers.currency,
    customers.payment_terms_code,
    customers.payment_terms_days,
    customers.has_early_payment_discount,
    customers.billing_email,
    customers.language,
    collectors.collector_name,
    collectors.email as collector_email,
    coalesce(customers.collector_id, 'unassigned') as collector_group,
    coalesce(collectors.collector_name, customers.collector_id, 'unassigned') as collector_group_name,
    customers.collector_id is null as is_unassigned,
    -- credit
    customers.credit_limit,
    exposure.exposure,
    exposure.credit_utilisation_pct,
    exposure.is_over_credit_limit,
    -- behaviour
    behaviour.n_invoices,
    behaviour.weighted_days_to_pay,
    behaviour.weighted_days_late,
    behaviour.pct_paid_late,
    behaviour.dispute_rate_pct,
    behaviour.open_ar_rc,
    behaviour.overdue_ar_rc,
    behaviour.last_payment_date,
    -- dates
    cast(customers.created_at as date) as customer_since_date
from customers
left join collectors on customers.collector_id = collectors.collector_id
left join behaviour on customers.customer_id = behaviour.customer_id
left join exposure on customers.customer_id = exposure.customer_id
