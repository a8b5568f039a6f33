{#- The column descriptions of a model with persist_docs, as DuckDB comments. dbt's persist_docs
    describes the relation and passes only the documented columns it has (warning of the
    others); dbt-duckdb's own version of this macro described the relation a second time to
    filter them again: one statement more for every mart of every build. -#}
{% macro duckdb__alter_column_comment(relation, column_dict) %}
    {% for column_name in column_dict %}
        {% set column = column_dict[column_name] %}
        comment on column {{ relation }}.{{ adapter.quote(column_name) if column['quote'] else column_name }}
        is {{ duckdb_escape_comment(column['description']) }};
    {% endfor %}
{% endmacro %}
