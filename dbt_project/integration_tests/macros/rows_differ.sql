{#- The rows of `actual` and `expected` (two selects with the same columns) that the other lacks,
    each labelled: a singular test built on it fails on any row missing, extra or different. -#}
{% macro rows_differ(actual, expected) -%}
with

actual as ({{ actual }}),

expected as ({{ expected }})

select 'missing from the model' as problem, * from (select * from expected except all select * from actual) as missing
union all
select 'not expected' as problem, * from (select * from actual except all select * from expected) as extra
{%- endmacro %}
