-- One row per invoice: was it right the first time? An invoice is inaccurate when a dispute or a
-- credit memo against it has one of the `invoice_inaccuracy_reasons` (pricing, quantity,
-- duplicate by default; compared case-insensitively). A dispute_credit memo counts through the
-- dispute it settles (its own reason is not in the list); early-payment discounts, returns and
-- bad-debt write-offs do not make an invoice inaccurate. Disputes and credit memos are optional
-- entities: with neither loaded accuracy is not measurable (is_accurate null), and a count is
-- null when its entity was not loaded.
-- Incremental by loads, by invoice (macros/incremental_by_key.sql): a run rebuilds the invoices
-- whose row in fct_invoices changed (days past due aside), those with a dispute or credit memo
-- loaded since, those that lost a dispute (taken out of the raw load, or loaded again on another
-- invoice), every invoice when disputes or credit memos were loaded for the first time or emptied
-- (their counts go from unknown to 0, or back), and those gone. On Spark the model is rebuilt
-- whole.

{{ incremental_by_loads('invoice_id', 'built_at') }}

-- depends_on: {{ ref('stg_erp__invoices') }} {{ ref('int_invoice_settlements') }}
-- (read only to find the invoices a run rebuilds)

{%- set reasons = var('invoice_inaccuracy_reasons') | map('lower') | map('trim') | list %}
{%- set reason_list %}({% for reason in reasons %}'{{ reason }}'{% if not loop.last %}, {% endif %}{% endfor %}){% endset %}

{#- what an invoice counts of the rows another relation holds for it, and the count it keeps; not
    its credit memos: one taken out of the load, or moved to another invoice, changes the invoice's
    balance, so its settlement is rebuilt (invoices_changed_since_last_build) -#}
{%- set parts = [(ref('stg_erp__disputes'), 'n_disputes')] %}

with

-- An optional entity a company does not have is an empty relation: its counts are unknown, not 0.
loaded as (

    select
        (select count(*) from {{ ref('stg_erp__disputes') }}) > 0 as disputes_loaded,
        (select count(*) from {{ ref('stg_erp__credit_memos') }}) > 0 as credit_memos_loaded

),

{% if is_incremental() %}
arrived as (

    -- invoices whose row in fct_invoices changed (days past due aside)
    {{ invoices_changed_since_last_build() }}

    union

    select invoice_id from {{ ref('stg_erp__disputes') }}
    where {{ loaded_since_last_build() }}

    union

    select invoice_id from {{ ref('stg_erp__credit_memos') }}
    where {{ loaded_since_last_build() }}

),

{{ keys_that_lost_rows('invoice_id', parts) }}

rebuilt as (

    select invoice_id from arrived
    where invoice_id is not null

    union

    select invoice_id from keys_that_lost_rows

    union

    -- a count known where its entity is no longer loaded, or unknown where it now is
    select previous.invoice_id
    from {{ this }} as previous
    cross join loaded
    where (previous.n_disputes is null) = loaded.disputes_loaded
        or (previous.n_inaccuracy_credit_memos is null) = loaded.credit_memos_loaded

    union

    {{ keys_gone('invoice_id', ref('fct_invoices')) }}

),
{% endif %}

invoices as (

    select
        invoice_id,
        customer_id,
        order_id,
        invoice_date
    from {{ ref('fct_invoices') }}
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

disputes as (

    select
        invoice_id,
        lower(trim(reason)) as reason,
        lower(trim(reason)) in {{ reason_list }} as is_inaccuracy
    from {{ ref('stg_erp__disputes') }}
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

credit_memos as (

    select
        invoice_id,
        lower(trim(reason)) as reason,
        lower(trim(reason)) in {{ reason_list }} as is_inaccuracy
    from {{ ref('stg_erp__credit_memos') }}
    where invoice_id is not null
    {% if is_incremental() %}
        and invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

per_invoice_disputes as (

    select
        invoice_id,
        count(*) as n_disputes,
        count(*) filter (where is_inaccuracy) as n_inaccuracy_disputes
    from disputes
    group by invoice_id

),

per_invoice_credit_memos as (

    select
        invoice_id,
        count(*) filter (where is_inaccuracy) as n_inaccuracy_credit_memos
    from credit_memos
    group by invoice_id

),

inaccuracy_reasons as (

    select
        invoice_id,
        {{ sorted_distinct_string_agg('reason', ', ') }} as inaccuracy_reasons
    from (
        select
            invoice_id,
            reason
        from disputes
        where is_inaccuracy
        union all
        select
            invoice_id,
            reason
        from credit_memos
        where is_inaccuracy
    ) as reasons
    group by invoice_id

),

counted as (

    select
        invoices.invoice_id,
        invoices.customer_id,
        invoices.order_id,
        invoices.invoice_date,
        cast(date_trunc('month', invoices.invoice_date) as date) as invoice_month,
        case when loaded.disputes_loaded then coalesce(per_invoice_disputes.n_disputes, 0) end as n_disputes,
        case
            when loaded.disputes_loaded then coalesce(per_invoice_disputes.n_inaccuracy_disputes, 0)
        end as n_inaccuracy_disputes,
        case
            when loaded.credit_memos_loaded then coalesce(per_invoice_credit_memos.n_inaccuracy_credit_memos, 0)
        end as n_inaccuracy_credit_memos,
        inaccuracy_reasons.inaccuracy_reasons
    from invoices
    cross join loaded
    left join per_invoice_disputes on invoices.invoice_id = per_invoice_disputes.invoice_id
    left join per_invoice_credit_memos on invoices.invoice_id = per_invoice_credit_memos.invoice_id
    left join inaccuracy_reasons on invoices.invoice_id = inaccuracy_reasons.invoice_id

)

select
    *,
    case
        when n_disputes is null and n_inaccuracy_credit_memos is null then null
        else coalesce(n_inaccuracy_disputes, 0) + coalesce(n_inaccuracy_credit_memos, 0) = 0
    end as is_accurate,
    -- bookkeeping
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from counted
{% if is_incremental() %}
-- a tombstone per rebuilt invoice (macros/incremental_by_key.sql)
union all
select
    invoice_id,
    null as customer_id,
    null as order_id,
    null as invoice_date,
    null as invoice_month,
    null as n_disputes,
    null as n_inaccuracy_disputes,
    null as n_inaccuracy_credit_memos,
    null as inaccuracy_reasons,
    null as is_accurate,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
