-- How each customer pays: amount-weighted days to pay and days late over paid invoices,
-- share paid late, disputes, and what is open now.

with

invoices as (

    select * from {{ ref('fct_invoices') }}

),

disputes as (

    select
        customer_id,
        count(*) as n_disputes,
        sum(case when is_open then 1 else 0 end) as n_open_disputes
    from {{ ref('stg_erp__disputes') }}
    group by customer_id

),

payments as (

    select
        customer_id,
        max(payment_date) as last_payment_date
    from {{ ref('fct_payments') }}
    where customer_id is not null
    group by customer_id

),

-- cash on account: the unapplied-cash rule's one home (not applied, not refunded)
on_account as (

    select
        customer_id,
        sum(unapplied_amount_rc) as unapplied_cash_rc
    from {{ ref('int_unapplied_receipts') }}
    where customer_id is not null
    group by customer_id

),

behaviour as (

    select
        customer_id,
        count(*) as n_invoices,
        sum(case when paid_date is not null then 1 else 0 end) as n_invoices_paid,
        sum(case when paid_date is not null and days_late > 0 then 1 else 0 end) as n_invoices_paid_late,
        sum(case when paid_date is not null then invoice_amount_rc end) as paid_amount_rc,
        sum(case when paid_date is not null then invoice_amount_rc * days_to_pay end) as amount_days_to_pay_rc,
        sum(
            case
                when paid_date is not null then invoice_amount_rc * case when days_late > 0 then days_late else 0 end
            end
        ) as amount_days_late_rc,
        sum(open_balance_rc) as open_ar_rc,
        sum(case when days_past_due > 0 then open_balance_rc else 0 end) as overdue_ar_rc,
        max(days_past_due) as max_days_past_due,
        sum(written_off_amount_rc) as written_off_rc
    from invoices
    group by customer_id

)

select
    behaviour.customer_id,
    behaviour.n_invoices,
    behaviour.n_invoices_paid,
    behaviour.n_invoices_paid_late,
    {{ percent_of('behaviour.n_invoices_paid_late', 'behaviour.n_invoices_paid', 1) }} as pct_paid_late,
    {{ rounded_ratio('behaviour.amount_days_to_pay_rc', 'behaviour.paid_amount_rc', 1) }} as weighted_days_to_pay,
    {{ rounded_ratio('behaviour.amount_days_late_rc', 'behaviour.paid_amount_rc', 1) }} as weighted_days_late,
    coalesce(disputes.n_disputes, 0) as n_disputes,
    coalesce(disputes.n_open_disputes, 0) as n_open_disputes,
    {{ percent_of('coalesce(disputes.n_disputes, 0)', 'behaviour.n_invoices', 1) }} as dispute_rate_pct,
    cast(behaviour.open_ar_rc as {{ money_type() }}) as open_ar_rc,
    cast(behaviour.overdue_ar_rc as {{ money_type() }}) as overdue_ar_rc,
    behaviour.max_days_past_due,
    cast(behaviour.written_off_rc as {{ money_type() }}) as written_off_rc,
    cast(coalesce(on_account.unapplied_cash_rc, 0) as {{ money_type() }}) as unapplied_cash_rc,
    payments.last_payment_date
from behaviour
left join disputes on behaviour.customer_id = disputes.customer_id
left join payments on behaviour.customer_id = payments.customer_id
left join on_account on behaviour.customer_id = on_account.customer_id
