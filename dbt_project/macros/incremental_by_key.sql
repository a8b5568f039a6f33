{#- Incremental by key: a model whose rows for one key (an invoice) depend only on that key's
    inputs rebuilds, on a daily run, only the keys whose inputs changed since it last ran.

    The model computes a fingerprint of each key's inputs (`inputs_fingerprint`), keeps it on the
    key's rows, and on an incremental run rebuilds the keys whose fingerprint differs from the one
    it kept (`rebuilt_keys`). Its own SQL text is part of every fingerprint, so a changed model
    rebuilds every key; a changed macro it calls needs `o2c build --full-refresh`, as with any
    incremental model. Each rebuilt key also gets a tombstone row (its key, nothing else): dbt's
    delete+insert deletes the old rows of the keys among the new rows, so the tombstone removes
    the old rows of a key that now has none (an invoice gone, or credited in full on its own
    date), and the model's post-hook (`delete_tombstones`) then removes the tombstones. Every
    step runs in the model's one transaction: a run that fails leaves the rows and their
    fingerprints as they were.

    On Spark the model is rebuilt whole (partly_replaced_materialization); the fingerprint is
    computed all the same. -#}

{#- The model's config: incremental by `key`, `marker` being a column never null in a real row
    (the tombstones are the rows where it is null). -#}
{% macro incremental_by_key(key, marker) -%}
    {{ config(
        materialized=partly_replaced_materialization(),
        unique_key=key,
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        pre_hook="{{ forget_rows_kept_without_fingerprints() }}",
        post_hook="{{ delete_tombstones('" ~ marker ~ "') }}",
    ) }}
{%- endmacro %}

{#- A fingerprint of a group of rows: the sum of the rows' hashes, so that it does not depend on
    their order, salted with the model's SQL and `salt` (the text of the macros holding the
    model's rule, its settings). -#}
{% macro inputs_fingerprint(expressions, salt='') -%}
    sum({{ row_fingerprint(expressions, salt) }})
{%- endmacro %}

{#- One row's part of a fingerprint (summed by inputs_fingerprint). -#}
{% macro row_fingerprint(expressions, salt='') -%}
    {{ return(adapter.dispatch('row_fingerprint', 'o2c')(expressions, salt)) }}
{%- endmacro %}

{% macro default__row_fingerprint(expressions, salt) -%}
    hash({{ expressions | join(', ') }}, '{{ local_md5(model.raw_code ~ salt) }}')
{%- endmacro %}

{% macro spark__row_fingerprint(expressions, salt) -%}
    cast(xxhash64({{ expressions | join(', ') }}, '{{ local_md5(model.raw_code ~ salt) }}') as decimal(38, 0))
{%- endmacro %}

{#- The keys an incremental run rebuilds: those whose fingerprint in `fingerprints` (key,
    inputs_fingerprint) differs from the one the model kept, those it did not keep, and those it
    holds that have no inputs any more. A table built before the model kept fingerprints (a
    warehouse from an earlier version) is emptied first (forget_rows_kept_without_fingerprints)
    and has every key rebuilt; dbt then adds the new columns (on_schema_change='sync_all_columns'). -#}
{% macro rebuilt_keys(fingerprints, key) -%}
    {%- if kept_fingerprints(key=key) -%}
    select coalesce(current_inputs.{{ key }}, kept.{{ key }}) as {{ key }}
    from {{ fingerprints }} as current_inputs
    full outer join (
        select
            {{ key }},
            max(inputs_fingerprint) as inputs_fingerprint
        from {{ this }}
        group by {{ key }}
    ) as kept on current_inputs.{{ key }} = kept.{{ key }}
    where current_inputs.inputs_fingerprint is distinct from kept.inputs_fingerprint
    {%- else -%}
    select {{ key }} from {{ fingerprints }}
    {%- endif -%}
{%- endmacro %}

{#- Whether the model's table keeps fingerprints in `column`, by `key` when one is given (false
    for one an earlier version built without them, or by another key). -#}
{% macro kept_fingerprints(column='inputs_fingerprint', key=none) -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set kept_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {{ return(column in kept_columns and (key is none or key | lower in kept_columns)) }}
{%- endmacro %}

{#- The pre-hook that empties a table an earlier version built without fingerprints in `column`,
    or by another key than the model's `unique_key`: its rows lack the key, or cannot tell which
    rows changed, so they are all rebuilt. -#}
{% macro forget_rows_kept_without_fingerprints(column='inputs_fingerprint') -%}
    {%- if is_incremental() and not kept_fingerprints(column, config.get('unique_key')) -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- Per invoice, the fingerprint of a model computed from the open-item ledger's events alone
    (int_open_item_events): the fingerprints the ledger kept of their inputs. -#}
{% macro ledger_fingerprints() -%}
    select
        invoice_id,
        {{ inputs_fingerprint(['inputs_fingerprint']) }} as inputs_fingerprint
    from {{ ref('int_open_item_events') }}
    group by invoice_id
{%- endmacro %}

{#- The first CTEs of a model computed from the open-item ledger alone, incremental by invoice:
    `fingerprints` (ledger_fingerprints) and, on an incremental run, the invoices it rebuilds
    (`rebuilt`), each followed by a comma. -#}
{% macro ledger_fingerprints_and_rebuilt_invoices() -%}
fingerprints as (

    {{ ledger_fingerprints() }}

),

{% if is_incremental() %}
rebuilt as (

    {{ rebuilt_keys('fingerprints', 'invoice_id') }}

),
{% endif %}
{%- endmacro %}

{#- The post-hook that removes the tombstones an incremental run left (rows whose `marker`
    column, never null in a real row, is null). -#}
{% macro delete_tombstones(marker) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ marker }} is null
    {%- endif -%}
{%- endmacro %}
