-- One row per payment applied to an invoice, with the method and confidence of the match.
-- Incremental by loads, by invoice (macros/incremental_by_key.sql): a run writes again the
-- invoices the combined matches rebuilt since, those with an application of a payment
-- int_payments_unioned wrote since (its source, currency or rate), those loaded since (their
-- customer), and takes out those the combined matches no longer have; on Spark the model is
-- rebuilt whole.

{{ incremental_by_loads('invoice_id', 'built_at') }}

with

{% if is_incremental() %}
rebuilt as (

    select invoice_id from {{ ref('int_payments_matched_to_invoices') }}
    where {{ built_since_last_build() }}

    union

    select applications.invoice_id
    from {{ ref('int_payments_matched_to_invoices') }} as applications
    inner join {{ ref('int_payments_unioned') }} as payments on applications.payment_id = payments.payment_id
    where {{ built_since_last_build('payments.built_at') }}

    union

    select invoice_id from {{ ref('stg_erp__invoices') }}
    where {{ loaded_since_last_build() }}

    union

    {{ keys_gone_from('invoice_id', ref('int_payments_matched_to_invoices')) }}

),
{% endif %}

applications as (

    select * from {{ ref('int_payments_matched_to_invoices') }}
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

payments as (

    select
        payment_id,
        payment_source,
        customer_id,
        currency,
        fx_rate
    from {{ ref('int_payments_unioned') }}

),

invoices as (

    select
        invoice_id,
        customer_id
    from {{ ref('stg_erp__invoices') }}

),

final as (

    select
        -- ids
        applications.application_id,
        applications.payment_id,
        applications.invoice_id,
        invoices.customer_id,
        -- attributes
        payments.payment_source,
        applications.match_method,
        applications.match_confidence,
        payments.currency,
        -- amounts
        applications.applied_amount,
        {{ to_reporting('applications.applied_amount', 'payments.fx_rate') }} as applied_amount_rc,
        -- dates
        applications.applied_date,
        -- bookkeeping
        {{ built_at() }} as built_at,
        {{ rule_fingerprint() }} as rule_fingerprint
    from applications
    inner join payments on applications.payment_id = payments.payment_id
    inner join invoices on applications.invoice_id = invoices.invoice_id

)

select * from final
{% if is_incremental() %}
-- a tombstone per rebuilt invoice (macros/incremental_by_key.sql)
union all
select
    null as application_id,
    null as payment_id,
    invoice_id,
    null as customer_id,
    null as payment_source,
    null as match_method,
    null as match_confidence,
    null as currency,
    null as applied_amount,
    null as applied_amount_rc,
    null as applied_date,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
