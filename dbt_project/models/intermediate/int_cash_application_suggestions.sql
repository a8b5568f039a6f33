-- Suggested matches for unapplied cash, for a person to accept or not in the Unapplied cash page
-- (a first, simple version: the matcher's ambiguous candidates will replace it). For each receipt
-- of a known customer with money unapplied, that customer's invoices open at the data's as-of
-- date in the receipt's currency whose open balance equals the unapplied amount (0.70) or is
-- within 2 % of it (0.50); at most 5 per receipt, best first. Pairs reversed by hand are not
-- suggested again.

with

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

applied as (

    select payment_id, sum(applied_amount) as applied_amount
    from {{ ref('int_payments_matched_to_invoices') }}
    group by payment_id

),

receipts as (

    select
        payments.payment_id,
        payments.customer_id,
        payments.currency,
        payments.amount - coalesce(applied.applied_amount, 0) as unapplied_amount
    from {{ ref('int_payments_unioned') }} as payments
    left join applied on payments.payment_id = applied.payment_id
    where payments.payment_type = 'payment'
        and payments.customer_id is not null
        and payments.amount - coalesce(applied.applied_amount, 0) > 0

),

open_invoices as (

    select
        intervals.invoice_id,
        invoices.customer_id,
        invoices.currency,
        invoices.due_date,
        intervals.open_balance
    from {{ ref('int_invoice_balance_intervals') }} as intervals
    inner join as_of on as_of.as_of_date between intervals.valid_from and intervals.valid_to
    inner join {{ ref('stg_erp__invoices') }} as invoices on intervals.invoice_id = invoices.invoice_id
    where intervals.open_balance > 0

),

candidates as (

    select
        receipts.payment_id,
        open_invoices.invoice_id,
        least(receipts.unapplied_amount, open_invoices.open_balance) as suggested_amount,
        receipts.unapplied_amount,
        open_invoices.open_balance,
        open_invoices.due_date,
        abs(open_invoices.open_balance - receipts.unapplied_amount) as difference
    from receipts
    inner join open_invoices
        on receipts.customer_id = open_invoices.customer_id and receipts.currency = open_invoices.currency
    where abs(open_invoices.open_balance - receipts.unapplied_amount) <= 0.02 * receipts.unapplied_amount
        and not exists (
            select 1 from {{ ref('int_manual_cash_applications') }} as manual
            where manual.action = 'reverse'
                and manual.payment_id = receipts.payment_id and manual.invoice_id = open_invoices.invoice_id
        )

),

ranked as (

    select
        *,
        row_number() over (partition by payment_id order by difference, due_date, invoice_id) as rank_for_payment
    from candidates

)

select
    payment_id,
    invoice_id,
    cast(suggested_amount as {{ money_type() }}) as suggested_amount,
    'amount' as match_method,
    cast(case when difference = 0 then 0.70 else 0.50 end as decimal(3, 2)) as match_confidence,
    case
        when difference = 0 then 'the invoice''s open balance equals the unapplied amount'
        else 'the invoice''s open balance is within 2 % of the unapplied amount (difference '
            || cast(cast(difference as {{ money_type() }}) as {{ dbt.type_string() }}) || ')'
    end as reason,
    rank_for_payment as suggestion_rank
from ranked
where rank_for_payment <= 5
