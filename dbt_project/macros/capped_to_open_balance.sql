{#- `amount`, but never more than what the invoice still owes after the applications that come
    before it (by `order_by`) in the same invoice: rows need invoice_id and net_amount. -#}
{% macro capped_to_open_balance(amount, order_by) -%}
    least(
        {{ amount }},
        greatest(
            net_amount - coalesce(sum({{ amount }}) over (
                partition by invoice_id order by {{ order_by }}
                rows between unbounded preceding and 1 preceding
            ), 0),
            0
        )
    )
{%- endmacro %}
