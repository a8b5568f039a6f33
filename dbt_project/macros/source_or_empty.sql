{#- A source table that a later step of the pipeline writes (the Python forecasts), or an empty
    relation with the given (column, type) pairs while that step has never run: the first build
    of a new warehouse, or a `dbt build` without forecasting, must not fail on it. source() is
    called at parse time too, so lineage and the Dagster graph show the dependency; a unit test's
    given rows stand in for the source (a CTE), as for any other. -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set exists = not execute or relation.is_cte or adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) is not none -%}
    {%- if exists %}
    select * from {{ relation }}
    {%- else %}
    select
        {%- for column, type in columns %}
        cast(null as {{ type }}) as {{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    where 1 = 0
    {%- endif -%}
{%- endmacro %}
