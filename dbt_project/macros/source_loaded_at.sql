{#- When this installation last loaded a raw table: the newest finish time in the load log that
    ingestion writes per source and entity (ingestion/warehouse.py), which is what the sources'
    freshness measures (loaded_at_query). A table never loaded has no row and so no time, which
    dbt reads as infinitely old. -#}
{% macro source_loaded_at(relation) -%}
    select max(finished_at) from {{ relation.schema }}._o2c_load_log where entity = '{{ relation.identifier }}'
{%- endmacro %}
