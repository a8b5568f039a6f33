{#- What each invoice of `pairs` (payment_id, invoice_id) is owed on its payment's date: its
    amount less the credits dated on or before it (a join, not a correlated subquery per row,
    which Spark plans slowly). `payments` has payment_id and payment_date, `invoices` invoice_id
    and invoice_amount, `credits` invoice_id, credit_memo_date and credit_amount. -#}
{% macro owed_at_payment(pairs, payments, invoices, credits) %}
    select
        pairs.payment_id,
        pairs.invoice_id,
        min(invoices.invoice_amount) - coalesce(sum(credits.credit_amount), 0) as owed_amount
    from {{ pairs }} as pairs
    inner join {{ payments }} as payments on pairs.payment_id = payments.payment_id
    inner join {{ invoices }} as invoices on pairs.invoice_id = invoices.invoice_id
    left join {{ credits }} as credits
        on pairs.invoice_id = credits.invoice_id and payments.payment_date >= credits.credit_memo_date
    group by pairs.payment_id, pairs.invoice_id
{% endmacro %}
