{#- Cross-database helpers for what dbt's own cross-db macros do not cover. DuckDB is the default
    implementation; Spark variants keep the project portable (ARCHITECTURE rule 7). -#}

{#- Rows of the upper-cased words of a free text (remittance references), as `token`. -#}
{% macro split_to_rows(text) -%}
    {{ return(adapter.dispatch('split_to_rows', 'o2c')(text)) }}
{%- endmacro %}

{% macro default__split_to_rows(text) -%}
    unnest(string_split_regex(upper({{ text }}), '[^A-Z0-9-]+'))
{%- endmacro %}

{% macro spark__split_to_rows(text) -%}
    explode(split(upper({{ text }}), '[^A-Z0-9-]+'))
{%- endmacro %}

{#- Whole days from `start` to `end` (dates), end − start. -#}
{% macro days_between(start, end) -%}
    {{ dbt.datediff(start, end, 'day') }}
{%- endmacro %}

{#- Money in the reporting currency: amount × rate, rounded to the cent. -#}
{% macro to_reporting(amount, rate) -%}
    cast(round({{ amount }} * {{ rate }}, 2) as {{ money_type() }})
{%- endmacro %}

{% macro money_type() -%}
    decimal(18, 2)
{%- endmacro %}

{#- A date literal. -#}
{% macro date_literal(value) -%}
    cast('{{ value }}' as date)
{%- endmacro %}
