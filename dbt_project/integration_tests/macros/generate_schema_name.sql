{#- dbt only takes this override from the root project, so the o2c package's own (layers and raw
    seeds in plain schema names: raw_erp, staging, marts) is repeated here. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}
