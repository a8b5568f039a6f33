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

{#- A fingerprint of a group of rows: the sum of the rows' hashes, so that it does not depend on
    their order, salted with the model's SQL. -#}
{% macro inputs_fingerprint(expressions) -%}
    {{ return(adapter.dispatch('inputs_fingerprint', 'o2c')(expressions)) }}
{%- endmacro %}

{% macro default__inputs_fingerprint(expressions) -%}
    sum(hash({{ expressions | join(', ') }}, '{{ local_md5(model.raw_code) }}'))
{%- endmacro %}

{% macro spark__inputs_fingerprint(expressions) -%}
    sum(cast(xxhash64({{ expressions | join(', ') }}, '{{ local_md5(model.raw_code) }}') as decimal(38, 0)))
{%- endmacro %}

{#- The keys an incremental run rebuilds: those whose fingerprint in `fingerprints` (key,
    inputs_fingerprint) differs from the one the model kept, those it did not keep, and those it
    holds that have no inputs any more. A table built before the model kept fingerprints (a
    warehouse from an earlier version) has every key rebuilt; dbt then adds the column
    (on_schema_change='sync_all_columns'). -#}
{% macro rebuilt_keys(fingerprints, key) -%}
    {%- set kept_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list
        if execute else [] -%}
    select coalesce(current_inputs.{{ key }}, kept.{{ key }}) as {{ key }}
    from {{ fingerprints }} as current_inputs
    full outer join (
        select
            {{ key }},
            {% if 'inputs_fingerprint' in kept_columns -%}
            max(inputs_fingerprint) as inputs_fingerprint
            {%- else -%}
            null as inputs_fingerprint
            {%- endif %}
        from {{ this }}
        group by {{ key }}
    ) as kept on current_inputs.{{ key }} = kept.{{ key }}
    where current_inputs.inputs_fingerprint is distinct from kept.inputs_fingerprint
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

{#- The post-hook that removes the tombstones an incremental run left (rows whose `marker`
    column, never null in a real row, is null). -#}
{% macro delete_tombstones(marker) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ marker }} is null
    {%- endif -%}
{%- endmacro %}
