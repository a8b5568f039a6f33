-- One payment (receipt) by id, applied or not: what the page needs to apply or reverse it.
select
    payments.payment_id,
    case when payments.customer_id is null then 'unidentified' else 'on account' end as status,
    payments.customer_id,
    coalesce(customers.customer_name, payments.payer_name) as customer_or_payer,
    payments.payment_date,
    payments.currency,
    payments.amount::double as amount,
    payments.unapplied_amount::double as unapplied_amount,
    payments.remittance_info
from marts.fct_payments as payments
left join marts.dim_customers as customers on payments.customer_id = customers.customer_id
where payments.payment_id = $payment_id and not payments.is_refund
