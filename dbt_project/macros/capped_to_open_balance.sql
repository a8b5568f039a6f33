{#- `amount`, but never more than what the invoice still owes after the applications that come
    before it (by `order_by`) in the same invoice: rows need invoice_id and what the invoice is
    owed before any of them (`owed`, SQL over the row's columns). -#}
{% macro capped_to_open_balance(amount, order_by, owed='net_amount') -%}
    least(
        {{ amount }},
        greatest(
            {{ owed }} - coalesce(sum({{ amount }}) over (
                partition by invoice_id order by {{ order_by }}
                rows between unbounded preceding and 1 preceding
            ), 0),
            0
        )
    )
{%- endmacro %}
