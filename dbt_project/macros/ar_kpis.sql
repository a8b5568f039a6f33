{#- The AR KPI formulas over a period, each written once: fct_ar_kpis_monthly (months),
    fct_ar_month_to_date (month to date and the same days of the previous month) and
    fct_ar_kpis_weekly (weeks) call them (docs/metrics.md). -#}

{#- Collection effectiveness index in percent, for one period (N = 1): what was collected of what
    could have been. -#}
{% macro cei_pct(beginning_ar, credit_sales, ending_ar, ending_current_ar) -%}
    {%- set collected %}{{ beginning_ar }} + {{ credit_sales }} - {{ ending_ar }}{% endset -%}
    {%- set collectible %}{{ beginning_ar }} + {{ credit_sales }} - {{ ending_current_ar }}{% endset -%}
    {{ percent_of(collected, collectible, 2) }}
{%- endmacro %}

{#- The share of open AR not yet due, in percent. -#}
{% macro pct_current(ending_ar, ending_current_ar) -%}
    {{ percent_of(ending_current_ar, ending_ar, 2) }}
{%- endmacro %}

{#- An amount of AR in days of credit sales: the amount ÷ the credit sales of a trailing window ×
    the window's days. Simple DSO (open AR), best possible DSO (current AR), average days
    delinquent (past-due AR) and net DSO (open AR less unapplied cash on account). -#}
{% macro days_of_sales(amount, window_sales, window_days) -%}
    {{ rounded_ratio('(' ~ amount ~ ') * (' ~ window_days ~ ')', window_sales, 2) }}
{%- endmacro %}
