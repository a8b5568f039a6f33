-- The audit trail of manual cash application: every action entered by hand in the Unapplied
-- cash page (ops store), with who, when and the note, and what the latest build made of it:
--   applied      the amount actually applied (capped, with the reason, when less than entered);
--   reversed     the pair's application is taken back (whatever method had applied it);
--   not applied  with the reason in words (unknown payment or invoice, a refund, an invoice
--                already settled, a payment already fully applied, a later action on the pair).

with

actions as (

    select * from {{ ref('stg_ops__manual_cash_applications') }}

),

in_effect as (

    select * from {{ ref('int_manual_cash_applications') }}

),

-- the action that superseded each one: the pair's action in effect, when it is not this one
ranked as (

    select
        actions.*,
        in_effect.manual_application_id as effective_id,
        in_effect.action as effective_action,
        in_effect.applied_date as effective_date,
        in_effect.entered_by as effective_by,
        in_effect.applied_amount as payment_capped_amount
    from actions
    left join in_effect on actions.payment_id = in_effect.payment_id and actions.invoice_id = in_effect.invoice_id

),

payments as (

    select
        payment_id,
        payment_type,
        currency
    from {{ ref('int_payments_unioned') }}

),

invoices as (

    select
        invoice_id,
        invoice_number,
        customer_id
    from {{ ref('stg_erp__invoices') }}

),

applied as (

    select
        payment_id,
        invoice_id,
        applied_amount,
        applied_date
    from {{ ref('int_payments_matched_to_invoices') }}
    where match_method = 'manual'

),

settled as (

    select
        invoice_id,
        open_balance
    from {{ ref('fct_invoices') }}

),

outcomes as (

    select
        ranked.*,
        payments.currency,
        invoices.invoice_number,
        invoices.customer_id,
        applied.applied_amount as amount_applied,
        case
            when payments.payment_id is null then 'not applied'
            when payments.payment_type != 'payment' then 'not applied'
            when invoices.invoice_id is null then 'not applied'
            when ranked.manual_application_id != ranked.effective_id then 'not applied'
            when ranked.action = 'reverse' then 'reversed'
            when applied.applied_amount > 0 then 'applied'
            else 'not applied'
        end as outcome,
        case
            when payments.payment_id is null then 'unknown payment ' || ranked.payment_id
            when payments.payment_type != 'payment' then 'the payment is a refund (money out)'
            when invoices.invoice_id is null then 'unknown invoice ' || ranked.invoice_id
            when ranked.manual_application_id != ranked.effective_id and ranked.effective_action = 'reverse'
                then 'reversed on ' || cast(ranked.effective_date as {{ dbt.type_string() }}) || ' by '
                    || ranked.effective_by
            when ranked.manual_application_id != ranked.effective_id
                then 'replaced by the application of ' || cast(ranked.effective_date as {{ dbt.type_string() }})
                    || ' by ' || ranked.effective_by
            when ranked.action = 'reverse' then null
            when coalesce(ranked.payment_capped_amount, 0) = 0
                then 'the payment is already fully applied by earlier manual applications'
            when applied.applied_amount is null and settled.open_balance = 0 then 'invoice already settled'
            when applied.applied_amount is null
                then 'nothing left to apply: the invoice was settled or the payment applied by the time of '
                    || cast(ranked.action_date as {{ dbt.type_string() }})
            when applied.applied_amount < ranked.applied_amount
                then 'amount capped to ' || cast(applied.applied_amount as {{ dbt.type_string() }})
                    || ' (of ' || cast(ranked.applied_amount as {{ dbt.type_string() }})
                    || ' entered): no more was left on the invoice or the payment'
        end as outcome_reason
    from ranked
    left join payments on ranked.payment_id = payments.payment_id
    left join invoices on ranked.invoice_id = invoices.invoice_id
    left join applied on ranked.payment_id = applied.payment_id and ranked.invoice_id = applied.invoice_id
    left join settled on ranked.invoice_id = settled.invoice_id

)

select
    -- ids
    manual_application_id,
    payment_id,
    invoice_id,
    customer_id,
    -- attributes
    invoice_number,
    action,
    entered_by,
    note,
    outcome,
    outcome_reason,
    currency,
    -- amounts (payment currency)
    cast(applied_amount as {{ money_type() }}) as entered_amount,
    cast(case when outcome = 'applied' then amount_applied else 0 end as {{ money_type() }}) as amount_applied,
    -- dates
    action_date,
    -- timestamps
    updated_at as entered_at
from outcomes
