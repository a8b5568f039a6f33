{#- Collection effectiveness index in percent, for one period (N = 1): what was collected of what
    could have been. The one home of the formula: fct_ar_kpis_monthly (each month) and
    fct_ar_month_to_date (month to date and the same days of the previous month) both call it. -#}
{% macro cei_pct(beginning_ar, credit_sales, ending_ar, ending_current_ar) -%}
    round(cast(
        100.0 * ({{ beginning_ar }} + {{ credit_sales }} - {{ ending_ar }})
        / nullif({{ beginning_ar }} + {{ credit_sales }} - {{ ending_current_ar }}, 0) as double
    ), 2)
{%- endmacro %}
