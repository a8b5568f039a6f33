{#- The names of a relation's columns, in lower case (what the warehouse holds now: a table an
    earlier version built may lack a column the model now has). -#}
{% macro relation_column_names(relation) -%}
    {{ return(adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list) }}
{%- endmacro %}

{#- Whether `relation` has the column `column` (not one an earlier version built, nor a table
    made by hand: its rows are all tested). -#}
{% macro has_column(relation, column) -%}
    {{ return(column in relation_column_names(relation)) }}
{%- endmacro %}
