{#- A primary key: `column_name` has a value in every row and no value twice. dbt's not_null and
    unique in one test: a test costs dbt about 25 ms whatever the data (its compiling, running and
    recording each node), and 29 keys had both. A row per failing value (null, or held by several
    rows); dbt's failure count is the rows that hold one. -#}
{% test primary_key(model, column_name) %}
{{ config(fail_calc='coalesce(sum(n_records), 0)') }}
select
    {{ column_name }} as key_value,
    count(*) as n_records
from {{ model }}
group by {{ column_name }}
having {{ column_name }} is null or count(*) > 1
{% endtest %}
