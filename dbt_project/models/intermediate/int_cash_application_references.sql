-- Cash application, steps 1 and 2 settled (int_payments_matched_to_invoices has the whole
-- rule): the pairs the source system or a person applied, and the invoices quoted in remittance
-- texts (int_cash_application_quoted) of the other receipts, each pair with what it applies once
-- no invoice is taken below zero (0 when an earlier pair took it all). method_rank 0 = source or
-- manual, 1 = reference. Zero rows are kept: a receipt the source applied is left to the source
-- even when its pair applies nothing.
--
-- Incremental by loads, by date (macros/incremental_by_key.sql). A pair's amounts depend on the
-- pairs before it on its invoice and on the other pairs of its payment, and every such window is
-- ordered by date first (a receipt's quoted pairs share its date): a pair dated before every
-- change is as it was. So a run finds the earliest date a change since its last build reaches
-- (rebuilt_from) and builds again every pair from that date on, starting each invoice from what
-- the pairs before it asked of it (kept on the rows: requested_amount, certain_amount). On Spark
-- the model is rebuilt whole.
-- depends_on: {{ ref('stg_ops__manual_cash_applications') }} (read only to find the dates a run rebuilds)

{{ incremental_by_loads(
    'applied_date', 'payment_id',
    kept=['requested_amount', 'certain_amount', 'payment_fingerprint', 'invoice_fingerprint', 'credits_fingerprint'],
) }}

{#- A pair's row keeps what it read of its payment, of its invoice and of the invoice's credits
    to its date, as fingerprints (a run compares them with what it would read now); the credits'
    is empty without any. -#}
{% set payment_fingerprint = row_fingerprint(['payment_date', 'amount', 'payment_type', 'invoice_id']) %}
{% set credit_fingerprint = row_fingerprint(['credits.credit_memo_date', 'credits.credit_amount']) %}
{% set credits_fingerprint = 'sum(case when credits.invoice_id is not null then ' ~ credit_fingerprint ~ ' end)' %}

with

payments as (

    select
        payment_id,
        payment_date,
        amount,
        {{ payment_fingerprint }} as payment_fingerprint
    from {{ ref('int_payments_unioned') }}
    where payment_type = 'payment'

),

invoices as (

    select
        invoice_id,
        due_date,
        invoice_amount,
        {{ row_fingerprint(['invoice_amount', 'due_date']) }} as invoice_fingerprint
    from {{ ref('stg_erp__invoices') }}

),

credits as (

    select
        invoice_id,
        credit_memo_date,
        credit_amount
    from {{ ref('stg_erp__credit_memos') }}
    where invoice_id is not null

),

-- manual applications (int_manual_cash_applications)
manual_applications as (

    select * from {{ ref('int_manual_cash_applications') }}
    where action = 'apply' and applied_amount > 0

),

-- manual applications (int_manual_cash_applications): pairs reversed by hand, whatever applied them
reversed_pairs as (

    select
        payment_id,
        invoice_id
    from {{ ref('int_manual_cash_applications') }}
    where action = 'reverse'

),

-- 1. Applications made by the source (e.g. portal payments recorded in the ERP), and receipts
-- the source recorded against one invoice (an AR ledger's settlement line) that it did not
-- also apply explicitly.
source_applications as (

    select
        payment_id,
        invoice_id,
        applied_date,
        applied_amount
    from {{ ref('stg_erp__payment_applications') }}

    union all

    select
        payment_id,
        invoice_id,
        payment_date as applied_date,
        amount as applied_amount
    from {{ ref('int_payments_unioned') }}
    where invoice_id is not null
        and payment_type = 'payment'
        and payment_id not in (
            select source_applications.payment_id
            from {{ ref('stg_erp__payment_applications') }} as source_applications
        )

),

-- What the source applied of each payment, pairs reversed by hand aside.
source_applied as (

    select
        applications.payment_id,
        sum(applications.applied_amount) as applied_amount
    from source_applications as applications
    where not exists (
            select 1 from reversed_pairs as r
            where r.payment_id = applications.payment_id and r.invoice_id = applications.invoice_id
        )
    group by applications.payment_id

),

source_pairs as (

    select
        applications.payment_id,
        applications.invoice_id,
        applications.applied_date,
        applications.applied_amount as requested_amount,
        payments.amount as payment_amount,
        'source' as match_method,
        cast(1.00 as decimal(3, 2)) as match_confidence,
        0 as method_rank
    from source_applications as applications
    inner join payments on applications.payment_id = payments.payment_id
    inner join invoices on applications.invoice_id = invoices.invoice_id
    -- manual applications (int_manual_cash_applications): a pair reversed or applied by hand
    where not exists (
            select 1 from reversed_pairs as r
            where r.payment_id = applications.payment_id and r.invoice_id = applications.invoice_id
        )
        and not exists (
            select 1 from manual_applications as m
            where m.payment_id = applications.payment_id and m.invoice_id = applications.invoice_id
        )

    union all

    -- manual applications (int_manual_cash_applications): top priority, never more than what the
    -- payment has left after the source's own applications and the manual ones entered before
    select
        manual.payment_id,
        manual.invoice_id,
        greatest(manual.applied_date, payments.payment_date) as applied_date,
        least(
            manual.applied_amount,
            greatest(
                payments.amount
                - coalesce(source_applied.applied_amount, 0)
                - coalesce(sum(manual.applied_amount) over (
                    partition by manual.payment_id order by manual.applied_date, manual.updated_at, manual.invoice_id
                    rows between unbounded preceding and 1 preceding
                ), 0),
                0
            )
        ) as requested_amount,
        payments.amount as payment_amount,
        manual.match_method,
        manual.match_confidence,
        0 as method_rank
    from manual_applications as manual
    inner join payments on manual.payment_id = payments.payment_id
    inner join invoices on manual.invoice_id = invoices.invoice_id
    left join source_applied on manual.payment_id = source_applied.payment_id

),

{% if is_incremental() %}
-- What changed since this model's last build, each where it first reaches a pair.
-- Invoices: those loaded since (the invoice or a credit memo on it: most are reloaded for a
-- status, so their pairs are compared with what they read), and those whose latest pair read
-- credits that are others now (a credit memo moved off it, or taken out of the load).
suspect_invoices as (

    select invoice_id from {{ ref('stg_erp__invoices') }}
    where {{ loaded_since_last_build() }}

    union

    select invoice_id from {{ ref('stg_erp__credit_memos') }}
    where {{ loaded_since_last_build() }} and invoice_id is not null

    union

    select latest.invoice_id
    from (
        select
            kept.invoice_id,
            kept.applied_date,
            max(kept.credits_fingerprint) as credits_fingerprint
        from {{ this }} as kept
        inner join (
            select
                invoice_id,
                max(applied_date) as applied_date
            from {{ this }}
            where credits_fingerprint is not null
            group by invoice_id
        ) as latest_dates
            on kept.invoice_id = latest_dates.invoice_id and kept.applied_date = latest_dates.applied_date
        group by kept.invoice_id, kept.applied_date
    ) as latest
    left join credits on latest.invoice_id = credits.invoice_id and latest.applied_date >= credits.credit_memo_date
    group by latest.invoice_id, latest.credits_fingerprint
    having latest.credits_fingerprint is distinct from {{ credits_fingerprint }}

    union

    {{ keys_gone('invoice_id', 'invoices') }}

),

-- The dates from which a suspect invoice's pairs read another invoice than they did: its
-- amount, due date or credits to date are others, or it is gone.
invoices_read_anew as (

    select dated.applied_date
    from (
        select
            invoice_id,
            applied_date,
            max(invoice_fingerprint) as invoice_fingerprint,
            max(credits_fingerprint) as credits_fingerprint
        from {{ this }}
        where invoice_id in (select suspect_invoices.invoice_id from suspect_invoices)
        group by invoice_id, applied_date
    ) as dated
    left join invoices on dated.invoice_id = invoices.invoice_id
    left join credits on dated.invoice_id = credits.invoice_id and dated.applied_date >= credits.credit_memo_date
    group by
        dated.invoice_id, dated.applied_date, dated.invoice_fingerprint, dated.credits_fingerprint,
        invoices.invoice_fingerprint
    having dated.invoice_fingerprint is distinct from invoices.invoice_fingerprint
        or dated.credits_fingerprint is distinct from {{ credits_fingerprint }}

),

-- The payments written again since (new, or another payer or rate), and what the pairs read of them.
payments_written as (

    select
        payment_id,
        {{ payment_fingerprint }} as payment_fingerprint
    from {{ ref('int_payments_unioned') }}
    where {{ built_since_last_build() }}

),

-- Payments whose pairs may be others: those written again since with another date, amount,
-- type or invoice (or new), those whose source or manual applications were loaded since, those
-- the source applied to an invoice that arrived since (it decides whether their quotes count),
-- and those gone or whose source application is.
changed_payments as (

    select written.payment_id
    from payments_written as written
    left join (
        select
            payment_id,
            max(payment_fingerprint) as payment_fingerprint
        from {{ this }}
        where payment_id in (select payments_written.payment_id from payments_written)
        group by payment_id
    ) as kept on written.payment_id = kept.payment_id
    where kept.payment_fingerprint is distinct from written.payment_fingerprint

    union

    select payment_id from {{ ref('stg_erp__payment_applications') }}
    where {{ loaded_since_last_build() }}

    union

    select payment_id from {{ ref('stg_ops__manual_cash_applications') }}
    where {{ loaded_since_last_build() }}

    union

    select applications.payment_id
    from source_applications as applications
    inner join {{ ref('stg_erp__invoices') }} as arrived on applications.invoice_id = arrived.invoice_id
    where {{ loaded_since_last_build('arrived.dlt_load_id') }}
        and not exists (
            select 1 from {{ this }} as kept
            where kept.payment_id = applications.payment_id and kept.invoice_id = applications.invoice_id
        )

    union

    {{ keys_gone('payment_id', 'payments') }}

    union

    select payment_id from (
        {{ keys_gone('payment_id, invoice_id', 'source_applications', kept_where="match_method = 'source'") }}
    ) as applications_gone

),

-- The earliest date a change reaches (every date taken is at or before a pair that changed):
-- the pairs this model holds of the changed payments and those they have now (a manual pair's
-- date is never before its action's), the dates the suspect invoices are read anew from, and
-- the first day of each payer's month the quoted invoices read again (their rule: a payer's
-- receipts of a month, the month ending their key's text).
rebuilt_from as (

    select min(applied_date) as from_date
    from (
        select applied_date from {{ this }}
        where payment_id in (select changed_payments.payment_id from changed_payments)

        union all

        select applied_date from source_applications
        where payment_id in (select changed_payments.payment_id from changed_payments)

        union all

        select applied_date from {{ ref('int_manual_cash_applications') }}
        where payment_id in (select changed_payments.payment_id from changed_payments)

        union all

        select applied_date from {{ ref('int_cash_application_quoted') }}
        where payment_id in (select changed_payments.payment_id from changed_payments)

        union all

        select applied_date from invoices_read_anew

        union all

        select cast({{ dbt.right('payer_month', '10') }} as date) as applied_date
        from {{ ref('int_cash_application_quoted') }}
        where {{ built_since_last_build() }}
    ) as reached

),
{% endif %}

reference_candidates as (

    select * from {{ ref('int_cash_application_quoted') }}
    where invoice_id is not null  -- not a month of a payer whose receipts quote nothing
        and payment_id not in (select source_pairs.payment_id from source_pairs)

),

reference_counts as (

    select
        payment_id,
        count(*) as n_references
    from reference_candidates
    group by payment_id

),

-- The pairs (on an incremental run, those dated from rebuilt_from on).
pairs as (

    select
        payment_id,
        invoice_id,
        applied_date,
        payment_amount,
        requested_amount,
        match_method,
        match_confidence,
        method_rank,
        1 as n_references
    from source_pairs
    {% if is_incremental() %}
    where applied_date >= (select rebuilt_from.from_date from rebuilt_from)
    {% endif %}

    union all

    select
        candidates.payment_id,
        candidates.invoice_id,
        candidates.applied_date,
        candidates.payment_amount,
        null as requested_amount,
        candidates.match_method,
        cast(candidates.match_confidence as decimal(3, 2)) as match_confidence,
        1 as method_rank,
        reference_counts.n_references
    from reference_candidates as candidates
    inner join reference_counts on candidates.payment_id = reference_counts.payment_id
    {% if is_incremental() %}
    where candidates.applied_date >= (select rebuilt_from.from_date from rebuilt_from)
    {% endif %}

),

-- What each invoice is owed at the date of each pair: amount less credits to date. And what
-- later pairs take as applied by this one when they estimate what is open (certain_amount):
-- a source or manual pair's amount, a payment quoting a single invoice in full.
pairs_with_net as (

    select
        pairs.payment_id,
        pairs.invoice_id,
        pairs.applied_date,
        pairs.payment_amount,
        pairs.requested_amount,
        pairs.match_method,
        pairs.match_confidence,
        pairs.method_rank,
        pairs.n_references,
        case
            when pairs.method_rank = 0 then pairs.requested_amount
            when pairs.n_references = 1 then pairs.payment_amount
            else 0
        end as certain_amount,
        invoices.due_date,
        invoices.invoice_amount - coalesce(sum(credits.credit_amount), 0) as net_amount,
        invoices.invoice_fingerprint,
        {{ credits_fingerprint }} as credits_fingerprint
    from pairs
    inner join invoices on pairs.invoice_id = invoices.invoice_id
    left join credits
        on pairs.invoice_id = credits.invoice_id and pairs.applied_date >= credits.credit_memo_date
    group by
        pairs.payment_id, pairs.invoice_id, pairs.applied_date, pairs.payment_amount, pairs.requested_amount,
        pairs.match_method, pairs.match_confidence, pairs.method_rank, pairs.n_references, invoices.due_date,
        invoices.invoice_amount, invoices.invoice_fingerprint

),

-- What the pairs before rebuilt_from asked of each invoice (on a full build, nothing).
{% if is_incremental() %}
asked_before as (

    select
        invoice_id,
        sum(requested_amount) as requested_amount,
        sum(certain_amount) as certain_amount
    from {{ this }}
    where applied_date < (select rebuilt_from.from_date from rebuilt_from)
        and invoice_id in (select pairs.invoice_id from pairs)
    group by invoice_id

),
{% endif %}

pairs_after as (

    select
        pairs_with_net.*,
        {% if is_incremental() %}
        coalesce(asked_before.requested_amount, 0) as requested_before,
        coalesce(asked_before.certain_amount, 0) as certain_before
        {% else %}
        0 as requested_before,
        0 as certain_before
        {% endif %}
    from pairs_with_net
    {% if is_incremental() %}
    left join asked_before on pairs_with_net.invoice_id = asked_before.invoice_id
    {% endif %}

),

-- Estimate what is still open before each pair from the earlier pairs whose amounts are
-- certain (source applications, payments quoting a single invoice).
estimated as (

    select
        *,
        greatest(
            net_amount - certain_before - coalesce(sum(certain_amount) over (
                partition by invoice_id order by applied_date, method_rank, payment_id
                rows between unbounded preceding and 1 preceding
            ), 0),
            0
        ) as open_estimate
    from pairs_after

),

-- A payment quoting several invoices settles the smallest whole invoices first; what is left
-- goes to the next (so one part-paid invoice per payment, as remitters do).
requested as (

    select
        *,
        case
            when method_rank = 0 then requested_amount
            else least(
                    open_estimate,
                    greatest(
                        payment_amount - coalesce(sum(open_estimate) over (
                            partition by payment_id order by open_estimate, due_date, invoice_id
                            rows between unbounded preceding and 1 preceding
                        ), 0),
                        0
                    )
                )
        end as requested,
        -- quoting several invoices and paying less than they owe: which one stays short is the
        -- smallest-first rule's choice, not the remitter's word, so it says so in its confidence
        method_rank = 1
        and n_references > 1
        and sum(open_estimate) over (partition by payment_id) > payment_amount as split_by_rule
    from estimated

),

-- Never apply more to an invoice than it is owed: later pairs get what earlier ones left (and
-- what the pairs before rebuilt_from left).
capped as (

    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        method_rank,
        case when split_by_rule then cast(0.75 as decimal(3, 2)) else match_confidence end as match_confidence,
        requested,
        certain_amount,
        invoice_fingerprint,
        credits_fingerprint,
        {{ capped_to_open_balance(
            'requested', 'applied_date, method_rank, payment_id', owed='net_amount - requested_before'
        ) }} as applied_amount
    from requested

)

select
    capped.payment_id,
    capped.invoice_id,
    capped.applied_date,
    capped.match_method,
    capped.match_confidence,
    capped.method_rank,
    capped.applied_amount,
    capped.requested as requested_amount,
    capped.certain_amount,
    payments.payment_fingerprint,
    capped.invoice_fingerprint,
    capped.credits_fingerprint,
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from capped
inner join payments on capped.payment_id = payments.payment_id
{% if is_incremental() %}
-- a tombstone per date rebuilt (macros/incremental_by_key.sql)
union all
select
    null as payment_id,
    null as invoice_id,
    applied_date,
    null as match_method,
    null as match_confidence,
    null as method_rank,
    null as applied_amount,
    null as requested_amount,
    null as certain_amount,
    null as payment_fingerprint,
    null as invoice_fingerprint,
    null as credits_fingerprint,
    null as built_at,
    null as rule_fingerprint
from (
    select distinct applied_date from {{ this }}
    where applied_date >= (select rebuilt_from.from_date from rebuilt_from)
) as rebuilt_dates
{% endif %}
