-- Manual cash applications in effect: of everything entered by hand in the Unapplied cash page
-- (the ops store), the latest action per payment and invoice, by action date then entry time.
--   apply    the payment is applied to the invoice (method 'manual', confidence 1.00), before any
--            matching of o2c's; several manual applications of one payment never exceed its
--            amount (the earliest keep theirs, the rest are capped);
--   reverse  whatever applied this payment to this invoice (the source, a match, a manual entry)
--            is taken back; int_payments_matched_to_invoices excludes the pair from every method.

with

actions as (

    select * from {{ ref('stg_ops__manual_cash_applications') }}

),

latest as (

    select
        *,
        row_number() over (
            partition by payment_id, invoice_id
            order by action_date desc, updated_at desc, manual_application_id desc
        ) as recency
    from actions

),

in_effect as (

    select * from latest
    where recency = 1

),

payments as (

    select
        payment_id,
        amount
    from {{ ref('int_payments_unioned') }}
    where payment_type = 'payment'

),

capped as (

    select
        in_effect.*,
        case
            when in_effect.action = 'apply' then least(
                    in_effect.applied_amount,
                    greatest(
                        coalesce(payments.amount, in_effect.applied_amount) - coalesce(sum(
                            case when in_effect.action = 'apply' then in_effect.applied_amount else 0 end
                        ) over (
                            partition by in_effect.payment_id
                            order by in_effect.action_date, in_effect.updated_at, in_effect.manual_application_id
                            rows between unbounded preceding and 1 preceding
                        ), 0),
                        0
                    )
                )
        end as capped_amount
    from in_effect
    left join payments on in_effect.payment_id = payments.payment_id

)

select
    manual_application_id,
    payment_id,
    invoice_id,
    action,
    action_date as applied_date,
    cast(applied_amount as {{ money_type() }}) as requested_amount,
    cast(capped_amount as {{ money_type() }}) as applied_amount,
    case when action = 'apply' then 'manual' end as match_method,
    case when action = 'apply' then cast(1.00 as decimal(3, 2)) end as match_confidence,
    entered_by,
    note,
    updated_at
from capped
