-- One row per collector action (from the ops store), with its customer, and for a promise to
-- pay whether it was kept: paid in full by the promised date, broken once that date has passed
-- without it, pending before.

with

actions as (

    select * from {{ ref('stg_ops__collection_actions') }}

),

invoices as (

    select
        invoice_id,
        paid_date,
        is_open
    from {{ ref('fct_invoices') }}

),

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

)

select
    actions.action_id,
    actions.customer_id,
    actions.invoice_id,
    actions.collector_id,
    actions.action_type,
    actions.action_date,
    actions.promised_date,
    actions.promised_amount,
    actions.dispute_reason,
    actions.note,
    case
        when actions.action_type != 'promise_to_pay' then null
        when invoices.paid_date is not null and invoices.paid_date <= actions.promised_date then 'kept'
        when actions.promised_date < as_of.as_of_date then 'broken'
        else 'pending'
    end as promise_status,
    actions.updated_at
from actions
cross join as_of
left join invoices on actions.invoice_id = invoices.invoice_id
