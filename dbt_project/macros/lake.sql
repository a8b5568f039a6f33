{#- The raw tables as the lake holds them (O2C_ENGINE=spark): one folder of Parquet files per
    table, <O2C_LAKE_DIR>/<schema>/<table>, listed in O2C_LAKE_TABLES (schema.table, comma
    separated) by the step that wrote them. Registered as tables over those files when a build
    starts (on-run-start), so the sources read them like any table; DuckDB reads its own raw
    tables and does nothing here. -#}
{% macro register_lake_tables() -%}
    {{ return(adapter.dispatch('register_lake_tables', 'o2c')()) }}
{%- endmacro %}

{% macro default__register_lake_tables() -%}
    select 1
{%- endmacro %}

{% macro spark__register_lake_tables() -%}
    {%- set lake = env_var('O2C_LAKE_DIR', '') -%}
    {%- set tables = env_var('O2C_LAKE_TABLES', '').split(',') | reject('equalto', '') | list -%}
    {%- for table in tables -%}
        {%- set schema, name = table.split('.') -%}
        {%- do run_query('create database if not exists ' ~ schema) -%}
        {%- do run_query('drop table if exists ' ~ table) -%}
        {%- do run_query("create table " ~ table ~ " using parquet location '" ~ lake ~ "/" ~ schema ~ "/" ~ name ~ "'") -%}
    {%- endfor %}
    select 1
{%- endmacro %}
