{#- Data tests on the rows written since they last passed.

    A daily run writes a small part of two kinds of relations: the staging views, whose rows are
    the raw rows dlt loaded (each keeps `dlt_load_id`, when its load started), and the models
    that rewrite only the keys whose inputs changed (macros/incremental_by_key.sql; each row keeps
    `built_at`, when the build that wrote it started). A data test that judges each row on its
    own, or by its key, needs to read only the rows written since it last passed: the others were
    tested then and have not changed.

    - A failed test does not move that point: its rows are tested again on every run until it
      passes.
    - A full refresh writes every row of the incremental models again, and a full reload
      (`o2c rebuild`) every staged row, so every row is tested (a relation whose rows are all new
      is tested as it is, without a filter). A full refresh does not reload the staging views'
      rows: `o2c check --full` tests them all.
    - `unique`, `primary_key` and `unique_combination` test the new rows' keys against the whole
      relation: an older row with a new row's key is a duplicate.
    - A test whose arguments change counts as never passed (its key below includes them); after
      a change of a test macro, `o2c check --full` tests every row once.
    - `--vars '{test_every_row: true}'` (`o2c check --full`) tests every row all the same.

    Which tests: the row-level ones below, on a relation whose config has meta.tests_on_new_rows,
    the column that says when a row was written (`built_at` or `dlt_load_id`); and the singular
    tests that judge each key (an invoice) on its own and say so (meta.tests_on_new_rows: true):
    they read the keys of the rows written since (`key_written_since_last_pass`). On DuckDB only
    (on Spark the incremental models are rebuilt whole: every test reads every row). When each
    last passed is kept in the target schema's _o2c_test_passes, which the run's end writes. A test of
    the new rows cannot see an older row orphaned by a parent that lost its key (relationships):
    the incremental models rebuild the keys a parent loses (tests/test_dbt.py, incremental models
    equal a full refresh), and `o2c check --full` reads every row. -#}

{#- The generic tests that judge each row on its own or by its key (not a share of the rows,
    nor whether the relation has rows). -#}
{% macro row_level_tests() -%}
    {{ return(['primary_key', 'unique', 'unique_combination', 'not_null', 'not_null_columns', 'accepted_values',
               'relationships', 'positive', 'non_negative', 'not_before', 'within_range']) }}
{%- endmacro %}

{#- The column saying when a row was written, if the data test `test` (a test node) reads only
    the rows written since it last passed; none if it reads every row, and in a command that runs
    no tests (`dbt compile`, `dbt docs generate`: `o2c docs` compiles on the read-only serving
    file, which has no record of passes). -#}
{% macro new_rows_column(test) -%}
    {%- set metadata = test.test_metadata if test.test_metadata is defined else none -%}
    {%- if not reads_new_rows_here() or not metadata or metadata.name not in row_level_tests() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set tested = graph.nodes.get(test.attached_node) if test.attached_node else none -%}
    {{ return(tested.config.meta.get('tests_on_new_rows') if tested is not none else none) }}
{%- endmacro %}

{#- Whether the singular test `test` reads only the keys written since it last passed. -#}
{% macro singular_test_on_new_rows(test) -%}
    {%- set metadata = test.test_metadata if test.test_metadata is defined else none -%}
    {{ return(reads_new_rows_here() and not metadata and test.config.meta.get('tests_on_new_rows', false) is true) }}
{%- endmacro %}

{#- Whether this command reads only the new rows where a test can: one that runs tests, on an
    engine that keeps when they passed, without `test_every_row`. -#}
{% macro reads_new_rows_here() -%}
    {{ return(not var('test_every_row', false) and flags.WHICH in ('build', 'test', 'retry') and tests_on_new_rows_supported()) }}
{%- endmacro %}

{#- In a singular test that judges each `key` on its own (meta tests_on_new_rows: true): the
    condition that a row's `key` is one of those of the rows written since the test last passed
    in `written`, a list of [relation, column saying when a row was written]; `true` when the
    test reads every row (never passed, a relation without that column, or see
    reads_new_rows_here). -#}
{% macro key_written_since_last_pass(key, written) -%}
    {%- set scoped = execute and singular_test_on_new_rows(model) -%}
    {%- set unmarked = [] -%}
    {%- for relation, column in written if scoped and not has_column(relation, column) -%}
        {%- do unmarked.append(relation) -%}
    {%- endfor -%}
    {%- set since = last_pass(model) if scoped and not unmarked else none -%}
    {%- if since is none -%}
        true
    {%- else -%}
        {%- set keys = [] -%}
        {%- for relation, column in written -%}
            {%- do keys.append('select new_rows.' ~ key ~ ' from ' ~ relation ~ ' as new_rows where '
                ~ written_after(column, "cast('" ~ since ~ "' as timestamp)", 'new_rows')) -%}
        {%- endfor -%}
        {{ key }} in ({{ keys | join(' union ') }})
    {%- endif -%}
{%- endmacro %}

{#- When the test `test` last passed (text), none if never. -#}
{% macro last_pass(test) -%}
    {{ return(once_per_command('o2c_test_passes', test_passes).get(test_pass_key(test))) }}
{%- endmacro %}

{#- When each test last passed (its key → the time as text): read once a command, as the table
    changes only at the run's end (record_test_passes). Asked test by test, it was a query each
    (104 of the 1,298 statements of an m build with nothing new). -#}
{% macro test_passes() -%}
    {%- set found = run_query(
        'select test_key, cast(passed_at as ' ~ dbt.type_string() ~ ') from ' ~ test_passes_table()
    ) -%}
    {%- set passes = {} -%}
    {%- for row in found.rows -%}
        {%- do passes.update({row[0]: row[1] | string}) -%}
    {%- endfor -%}
    {{ return(passes) }}
{%- endmacro %}

{#- `compute(*varargs)`, once per command: kept under `key` in dbt's `graph`, which every node's
    contexts share for the whole command (macros/incremental_by_key.sql, once_per_node, keeps an
    answer per node the same way). -#}
{% macro once_per_command(key, compute) -%}
    {%- if 'o2c_once_per_command' not in graph -%}
        {%- do graph.update({'o2c_once_per_command': {}}) -%}
    {%- endif -%}
    {%- set kept = graph['o2c_once_per_command'] -%}
    {%- if key not in kept -%}
        {%- do kept.update({key: compute(*varargs)}) -%}
    {%- endif -%}
    {{ return(kept[key]) }}
{%- endmacro %}

{% macro tests_on_new_rows_supported() -%}
    {{ return(adapter.dispatch('tests_on_new_rows_supported', 'o2c')()) }}
{%- endmacro %}

{% macro default__tests_on_new_rows_supported() -%}
    {{ return(true) }}
{%- endmacro %}

{% macro spark__tests_on_new_rows_supported() -%}
    {{ return(false) }}
{%- endmacro %}

{#- Whether a row's `column` (built_at, a timestamp, or dlt_load_id, a load's start in epoch
    seconds as text) says it was written after `time` (SQL of a timestamp). -#}
{% macro written_after(column, time, alias) -%}
    {%- if column == 'dlt_load_id' -%}
        {{ loaded_after(alias ~ '.' ~ column, time) }}
    {%- else -%}
        {{ alias }}.{{ column }} > {{ time }}
    {%- endif -%}
{%- endmacro %}

{#- A test with its arguments (a singular test, its SQL): the key its last pass is kept under. -#}
{% macro test_pass_key(test) -%}
    {%- set arguments = test.test_metadata.kwargs | tojson if test.test_metadata is defined and test.test_metadata else test.raw_code -%}
    {{ return(local_md5(test.unique_id ~ arguments ~ (test.config.where or ''))) }}
{%- endmacro %}

{% macro test_passes_table() -%}
    {{ return(target.schema ~ '._o2c_test_passes') }}
{%- endmacro %}

{#- dbt's generic tests read their model through this macro (dbt's own applies the test's
    `where`): for a test of the new rows only, the rows written since it last passed. -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set conditions = ['(' ~ where ~ ')'] if where else [] -%}
    {%- set column = new_rows_column(model) if execute else none -%}
    {%- set since = tested_rows_since(relation, column, built_in_this_run(model.attached_node)) if column else none -%}
    {%- if since is not none -%}
        {%- do conditions.append(new_rows_condition(relation, column, since)) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' as tested_rows where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- When the running test last passed, if `relation` has rows written before then (none
    otherwise, or when it has no `column`: every row is tested). A relation `built` in this run
    has the column its model writes (its meta says which): the warehouse is not asked, one query
    fewer a test (246 tests at m). -#}
{% macro tested_rows_since(relation, column, built=false) -%}
    {%- if not built and not has_column(relation, column) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set since = last_pass(model) -%}
    {%- if since is none -%}
        {{ return(none) }}
    {%- endif -%}
    {#- The tests of one relation mostly passed together: asked once per relation and time. Its
        rows do not change between its tests (a build runs them after its model). -#}
    {%- set key = 'o2c_written_by|' ~ relation ~ '|' ~ column ~ '|' ~ since -%}
    {{ return(since if once_per_command(key, has_rows_written_by, relation, column, since) else none) }}
{%- endmacro %}

{#- Whether `relation` has rows written by `since` (text of a timestamp), not after it. -#}
{% macro has_rows_written_by(relation, column, since) -%}
    {%- set kept -%}
        select 1 from {{ relation }} as kept
        where not ({{ written_after(column, "cast('" ~ since ~ "' as timestamp)", 'kept') }})
        limit 1
    {%- endset -%}
    {{ return(run_query(kept).rows | length > 0) }}
{%- endmacro %}

{#- Whether the node `node_id` was built in this run, before the tests that read it: selected in
    a `dbt build` (a `dbt test` selects only tests; a node that failed skips its tests). -#}
{% macro built_in_this_run(node_id) -%}
    {{ return(flags.WHICH == 'build' and node_id in selected_resources) }}
{%- endmacro %}

{#- The rows of `relation` (aliased tested_rows) a test of the new rows reads: those written
    after `since`, or for a uniqueness test those whose key a row written after it has (and for a
    primary key the new rows without one). -#}
{% macro new_rows_condition(relation, column, since) -%}
    {%- set since = "cast('" ~ since ~ "' as timestamp)" -%}
    {%- set metadata = model.test_metadata -%}
    {%- if metadata.name in ('unique', 'primary_key') -%}
        {%- set key = metadata.kwargs.column_name -%}
        {%- set new_key = key ~ ' in (select new_rows.' ~ key ~ ' from ' ~ relation ~ ' as new_rows where '
            ~ written_after(column, since, 'new_rows') ~ ')' -%}
        {%- if metadata.name == 'primary_key' -%}
            {{ return('(' ~ new_key ~ ' or ' ~ written_after(column, since, 'tested_rows') ~ ')') }}
        {%- endif -%}
        {{ return(new_key) }}
    {%- elif metadata.name == 'unique_combination' -%}
        {%- set same_key = [] -%}
        {%- for key in metadata.kwargs.columns -%}
            {%- do same_key.append('new_rows.' ~ key ~ ' is not distinct from tested_rows.' ~ key) -%}
        {%- endfor -%}
        {{ return(
            'exists (select 1 from ' ~ relation ~ ' as new_rows where ' ~ written_after(column, since, 'new_rows')
            ~ ' and ' ~ same_key | join(' and ') ~ ')'
        ) }}
    {%- endif -%}
    {{ return(written_after(column, since, 'tested_rows')) }}
{%- endmacro %}

{#- on-run-start: the table of when each test of the new rows last passed. -#}
{% macro create_test_passes_table() -%}
    {{ return(adapter.dispatch('create_test_passes_table', 'o2c')()) }}
{%- endmacro %}

{% macro default__create_test_passes_table() -%}
    create table if not exists {{ test_passes_table() }} (
        test_key {{ dbt.type_string() }} primary key,
        passed_at timestamp
    )
{%- endmacro %}

{#- (Spark: every test reads every row, nothing is kept) -#}
{% macro spark__create_test_passes_table() -%}
{%- endmacro %}

{#- on-run-end: the tests of the new rows that passed in this run, as passed when it started
    (the `built_at` of the rows it wrote, after the loads it read: the next run reads the rows
    written after). -#}
{% macro record_test_passes(results) -%}
    {{ return(adapter.dispatch('record_test_passes', 'o2c')(results)) }}
{%- endmacro %}

{% macro default__record_test_passes(results) -%}
    {%- set keys = [] -%}
    {%- for result in results if result.node.resource_type == 'test' and result.status == 'pass' -%}
        {%- if new_rows_column(result.node) or singular_test_on_new_rows(result.node) -%}
            {%- do keys.append("'" ~ test_pass_key(result.node) ~ "'") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if keys %}
    insert or replace into {{ test_passes_table() }}
    select test_key, {{ built_at() }} from (values ({{ keys | join('), (') }})) as passed (test_key)
    {%- endif -%}
{%- endmacro %}

{% macro spark__record_test_passes(results) -%}
{%- endmacro %}
