-- One row per invoice: was it right the first time? An invoice is inaccurate when a dispute or a
-- credit memo against it has one of the `invoice_inaccuracy_reasons` (pricing, quantity,
-- duplicate by default; compared case-insensitively). A dispute_credit memo counts through the
-- dispute it settles (its own reason is not in the list); early-payment discounts, returns and
-- bad-debt write-offs do not make an invoice inaccurate. Disputes and credit memos are optional
-- entities: with neither loaded accuracy is not measurable (is_accurate null), and a count is
-- null when its entity was not loaded.

{%- set reasons = var('invoice_inaccuracy_reasons') | map('lower') | map('trim') | list %}
{%- set reason_list %}({% for reason in reasons %}'{{ reason }}'{% if not loop.last %}, {% endif %}{% endfor %}){% endset %}

with

invoices as (

    select
        invoice_id,
        customer_id,
        order_id,
        invoice_date
    from {{ ref('fct_invoices') }}

),

disputes as (

    select
        invoice_id,
        lower(trim(reason)) as reason,
        lower(trim(reason)) in {{ reason_list }} as is_inaccuracy
    from {{ ref('stg_erp__disputes') }}

),

credit_memos as (

    select
        invoice_id,
        lower(trim(reason)) as reason,
        lower(trim(reason)) in {{ reason_list }} as is_inaccuracy
    from {{ ref('stg_erp__credit_memos') }}
    where invoice_id is not null

),

-- An optional entity a company does not have is an empty relation: its counts are unknown, not 0.
loaded as (

    select
        (select count(*) from disputes) > 0 as disputes_loaded,
        (select count(*) from {{ ref('stg_erp__credit_memos') }}) > 0 as credit_memos_loaded

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
    end as is_accurate
from counted
