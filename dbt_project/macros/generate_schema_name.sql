{#- Layers get their own plain schema names (staging, intermediate, marts), not "main_staging". -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}
