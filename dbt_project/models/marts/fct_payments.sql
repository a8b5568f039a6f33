-- One row per money movement (payments in, refunds out) with what cash application made of it.
-- Incremental by loads, by payment (macros/incremental_by_key.sql): a run writes again the
-- payments int_payments_unioned wrote since, those whose applications now add up to another
-- amount or count (the combined matches are rebuilt by invoice: a payment whose application to a
-- rebuilt invoice is gone is found by its sum), and takes out those the payments no longer have;
-- on Spark the model is rebuilt whole.

{{ incremental_by_loads('payment_id', 'built_at') }}

with

applied as (

    select
        payment_id,
        sum(applied_amount) as applied_amount,
        count(*) as n_invoices
    from {{ ref('int_payments_matched_to_invoices') }}
    group by payment_id

),

{% if is_incremental() %}
rebuilt as (

    select payment_id from {{ ref('int_payments_unioned') }}
    where {{ built_since_last_build() }}

    union

    select coalesce(applied.payment_id, kept.payment_id) as payment_id
    from applied
    full outer join (
        select
            payment_id,
            applied_amount,
            n_invoices_applied
        from {{ this }}
        where n_invoices_applied > 0
    ) as kept on applied.payment_id = kept.payment_id
    where applied.applied_amount is distinct from kept.applied_amount
        or applied.n_invoices is distinct from kept.n_invoices_applied

    union

    {{ keys_gone_from('payment_id', ref('int_payments_unioned')) }}

),
{% endif %}

payments as (

    select * from {{ ref('int_payments_unioned') }}
    {% if is_incremental() %}
    where payment_id in (select rebuilt.payment_id from rebuilt)
    {% endif %}

),

final as (

    select
        -- ids
        payments.payment_id,
        payments.customer_id,
        payments.original_payment_id,
        -- attributes
        payments.payment_source,
        payments.customer_match_method,
        payments.payer_name,
        payments.payment_method,
        payments.payment_type,
        payments.is_refund,
        payments.remittance_info,
        payments.currency,
        coalesce(applied.n_invoices, 0) as n_invoices_applied,
        -- amounts (transaction currency)
        payments.amount,
        payments.cash_amount,
        coalesce(applied.applied_amount, 0) as applied_amount,
        case when payments.is_refund then 0 else payments.amount - coalesce(applied.applied_amount, 0) end
            as unapplied_amount,
        -- amounts (reporting currency, payment-date rate)
        payments.fx_rate,
        payments.amount_rc,
        payments.cash_amount_rc,
        {{ to_reporting('coalesce(applied.applied_amount, 0)', 'payments.fx_rate') }} as applied_amount_rc,
        case
            when payments.is_refund then 0
            else payments.amount_rc - {{ to_reporting('coalesce(applied.applied_amount, 0)', 'payments.fx_rate') }}
        end as unapplied_amount_rc,
        -- dates
        payments.payment_date,
        -- bookkeeping
        {{ built_at() }} as built_at,
        {{ rule_fingerprint() }} as rule_fingerprint
    from payments
    left join applied on payments.payment_id = applied.payment_id

)

select * from final
{% if is_incremental() %}
-- a tombstone per rebuilt payment (macros/incremental_by_key.sql)
union all
select
    payment_id,
    null as customer_id,
    null as original_payment_id,
    null as payment_source,
    null as customer_match_method,
    null as payer_name,
    null as payment_method,
    null as payment_type,
    null as is_refund,
    null as remittance_info,
    null as currency,
    null as n_invoices_applied,
    null as amount,
    null as cash_amount,
    null as applied_amount,
    null as unapplied_amount,
    null as fx_rate,
    null as amount_rc,
    null as cash_amount_rc,
    null as applied_amount_rc,
    null as unapplied_amount_rc,
    null as payment_date,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
