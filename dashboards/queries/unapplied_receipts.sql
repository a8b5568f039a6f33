-- Receipts with money unapplied, oldest first (at most $limit: the page finds any other by id),
-- with the number of suggested matches each has, counted for the receipts listed only.
with oldest as (
    select
        cash.payment_id,
        cash.status,
        cash.customer_id,
        coalesce(cash.customer_name, cash.payer_name) as customer_or_payer,
        cash.payer_account,
        cash.payment_date,
        cash.days_unapplied,
        cash.currency,
        cash.amount::double as amount,
        cash.unapplied_amount::double as unapplied_amount,
        cash.unapplied_amount_rc::double as unapplied_amount_rc,
        cash.remittance_info
    from marts.fct_unapplied_cash as cash
    order by cash.days_unapplied desc, cash.unapplied_amount_rc desc, cash.payment_id
    limit $limit
)

select
    oldest.*,
    (select count(*) from marts.fct_cash_application_suggestions as s where s.payment_id = oldest.payment_id)
        as suggestions
from oldest
order by oldest.days_unapplied desc, oldest.unapplied_amount_rc desc, oldest.payment_id
