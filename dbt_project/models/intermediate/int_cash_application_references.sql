-- Cash application, steps 1 and 2 settled (int_payments_matched_to_invoices has the whole
-- rule): the pairs the source system or a person applied, and the invoices quoted in remittance
-- texts (int_cash_application_quoted) of the other receipts, each pair with what it applies once
-- no invoice is taken below zero (0 when an earlier pair took it all). method_rank 0 = source or
-- manual, 1 = reference. Zero rows are kept: a receipt the source applied is left to the source
-- even when its pair applies nothing.

with

payments as (

    select
        payment_id,
        payment_date,
        amount
    from {{ ref('int_payments_unioned') }}
    where payment_type = 'payment'

),

invoices as (

    select
        invoice_id,
        due_date,
        invoice_amount
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

-- What each invoice is owed at the date of each candidate pair: amount less credits to date.
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

),

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
        invoices.due_date,
        invoices.invoice_amount - coalesce(sum(credits.credit_amount), 0) as net_amount
    from pairs
    inner join invoices on pairs.invoice_id = invoices.invoice_id
    left join credits
        on pairs.invoice_id = credits.invoice_id and pairs.applied_date >= credits.credit_memo_date
    group by
        pairs.payment_id, pairs.invoice_id, pairs.applied_date, pairs.payment_amount, pairs.requested_amount,
        pairs.match_method, pairs.match_confidence, pairs.method_rank, pairs.n_references, invoices.due_date,
        invoices.invoice_amount

),

-- Estimate what is still open before each pair from the earlier pairs whose amounts are
-- certain (source applications, payments quoting a single invoice).
estimated as (

    select
        *,
        greatest(
            net_amount - coalesce(sum(
                case
                    when method_rank = 0 then requested_amount
                    when n_references = 1 then payment_amount
                    else 0
                end
            ) over (
                partition by invoice_id order by applied_date, method_rank, payment_id
                rows between unbounded preceding and 1 preceding
            ), 0),
            0
        ) as open_estimate
    from pairs_with_net

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

-- Never apply more to an invoice than it is owed: later pairs get what earlier ones left.
capped as (

    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        method_rank,
        case when split_by_rule then cast(0.75 as decimal(3, 2)) else match_confidence end as match_confidence,
        {{ capped_to_open_balance('requested', 'applied_date, method_rank, payment_id') }} as applied_amount
    from requested

)

select
    payment_id,
    invoice_id,
    applied_date,
    match_method,
    match_confidence,
    method_rank,
    applied_amount
from capped
