{#- Generic tests of the key marts' rules that dbt's built-in tests cannot express (they were a
    Great Expectations suite run after dbt; now they run inside `dbt build`, as asset checks). -#}

{#- A mart must have rows when what it is built from has rows (`built_from_where` narrows that,
    e.g. to open invoices), and may be empty otherwise: data with open invoices and no payments
    rightly has an empty fct_payments, while raw invoices and an empty fct_invoices is a broken
    build. One row, the count of what it is built from, when the rule is broken. (Not named
    `where`: dbt takes that as its own test config, a filter on the model.) -#}
{% test has_rows_when_built_from_has_rows(model, built_from, built_from_where=none) %}
select count(*) as built_from_rows
from {{ built_from }}
{% if built_from_where %}where {{ built_from_where }}{% endif %}
having count(*) > 0 and not exists (select 1 from {{ model }})
{% endtest %}

{#- A date never before another of the same row (a due date before its invoice date); rows with
    either date missing are not compared. -#}
{% test not_before(model, column_name, other) %}
select {{ column_name }}, {{ other }}
from {{ model }}
where {{ column_name }} < {{ other }}
{% endtest %}

{#- At least the share `mostly` (0..1) of the rows has a value: one row, the counts, when fewer
    have. An empty model passes (no row lacks a value). -#}
{% test not_null_mostly(model, column_name, mostly) %}
select count(*) as n_rows, count({{ column_name }}) as n_filled
from {{ model }}
having count({{ column_name }}) < {{ mostly }} * count(*)
{% endtest %}

{#- Values within [min_value, max_value], bounds included; nulls are not checked. -#}
{% test within_range(model, column_name, min_value, max_value) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}
