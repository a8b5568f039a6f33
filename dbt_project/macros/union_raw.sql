{#- One contract entity from every raw schema that lands it (an ERP database, a company's export
    files, …), unioned: each row keeps `source_system`, the source it came from. A source that is
    not configured has no raw table and is left out; when none has the entity, the result is an
    empty relation with the contract's columns and types, so every model downstream still builds
    (an optional entity that a company does not have). Columns a raw table lacks (a contract column
    added later, before any row carried it) are null. -#}
{% macro union_raw(entity, source_names) -%}
    {%- set columns = contract_columns(entity) -%}
    {%- set found = [] -%}
    {%- for name in source_names -%}
        {#- source() is called at parse time too, so lineage shows every candidate. -#}
        {%- set candidate = source(name, entity) -%}
        {%- if execute -%}
            {%- set relation = adapter.get_relation(
                database=candidate.database, schema=candidate.schema, identifier=candidate.identifier
            ) -%}
            {%- if relation is not none -%}
                {%- do found.append((name, relation)) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if found | length == 0 %}
    select
        {%- for column, type in columns %}
        cast(null as {{ contract_type(type) }}) as {{ column }},
        {%- endfor %}
        cast(null as {{ dbt.type_string() }}) as _source_file,
        cast(null as {{ dbt.type_string() }}) as _dlt_load_id,
        cast(null as {{ dbt.type_string() }}) as source_system
    where 1 = 0
    {%- else -%}
    {%- for name, relation in found %}
    {%- set present = relation_column_names(relation) %}
    select
        {%- for column, type in columns %}
        cast({{ column if column in present else 'null' }} as {{ contract_type(type) }}) as {{ column }},
        {%- endfor %}
        cast({{ '_source_file' if '_source_file' in present else 'null' }} as {{ dbt.type_string() }}) as _source_file,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as _dlt_load_id,
        '{{ name }}' as source_system
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- SQL type of a contract column's logical type (ingestion/contract.py). -#}
{% macro contract_type(type) -%}
    {%- if type == 'string' -%}{{ dbt.type_string() }}
    {%- elif type == 'int' -%}{{ dbt.type_bigint() }}
    {%- elif type == 'money' -%}{{ money_type() }}
    {%- elif type == 'rate' -%}decimal(18, 8)
    {%- elif type == 'date' -%}date
    {%- elif type == 'timestamp' -%}{{ dbt.type_timestamp() }}
    {%- elif type == 'bool' -%}{{ dbt.type_boolean() }}
    {%- else -%}{{ exceptions.raise_compiler_error('unknown contract type ' ~ type) }}
    {%- endif -%}
{%- endmacro %}
