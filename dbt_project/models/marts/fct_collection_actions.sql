-- One row per collector action (from the ops store), with its customer, and for a promise to
-- pay whether it was kept: paid in full by the promised date, broken once that date has passed
-- without it, pending before. Of several promises on one invoice the latest counts (the one
-- recorded last: latest action date, then latest recorded): is_latest_promise marks it, and the
-- worklist (fct_worklist_items) and the alerts read only that one; is_last_action_on_invoice marks
-- the latest action of any type, the worklist's last action.

with

actions as (

    select
        *,
        -- 1 = the latest action of its type on its invoice, and the latest of any type: by action
        -- date, then the one recorded last
        row_number() over (
            partition by invoice_id, action_type
            order by action_date desc, updated_at desc, action_id desc
        ) as recency_rank,
        row_number() over (
            partition by invoice_id
            order by action_date desc, updated_at desc, action_id desc
        ) as recency_rank_on_invoice
    from {{ ref('stg_ops__collection_actions') }}

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
    actions.action_type = 'promise_to_pay'
    and actions.invoice_id is not null
    and actions.recency_rank = 1 as is_latest_promise,
    actions.invoice_id is not null and actions.recency_rank_on_invoice = 1 as is_last_action_on_invoice,
    actions.updated_at
from actions
cross join as_of
left join invoices on actions.invoice_id = invoices.invoice_id
