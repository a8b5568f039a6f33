-- Cash application: which invoice each payment pays, for how much, by which method and with
-- what confidence. In order:
--   1. source     the source system already applied the payment (confidence 1.00);
--   2. reference  an invoice number of the paying customer appears in the remittance text
--                 (0.99; 0.90 when the payer is unknown);
--   3. amount     no usable reference: the payment equals exactly the open amount of one of the
--                 customer's open invoices, oldest first (0.80; 0.60 when several would fit).
-- Manual applications entered in the Unapplied cash page come first (method 'manual', 1.00); a
-- pair reversed there is excluded from every method.
-- Whatever is not applied stays unapplied cash (on account). Only events dated on or before a
-- payment decide its application, so a past application never changes when later data arrives.

with

payments as (

    select
        payment_id,
        customer_id,
        payment_date,
        amount,
        currency,
        remittance_info
    from {{ ref('int_payments_unioned') }}
    where payment_type = 'payment'

),

invoices as (

    select
        invoice_id,
        invoice_number,
        customer_id,
        invoice_date,
        due_date,
        currency,
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

    select * from {{ ref('int_manual_cash_applications') }} where action = 'apply' and applied_amount > 0

),

-- manual applications (int_manual_cash_applications): pairs reversed by hand, whatever applied them
reversed_pairs as (

    select payment_id, invoice_id from {{ ref('int_manual_cash_applications') }} where action = 'reverse'

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
        and payment_id not in (select payment_id from {{ ref('stg_erp__payment_applications') }})

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
                - coalesce((
                    select sum(s.applied_amount) from source_applications as s
                    where s.payment_id = manual.payment_id
                        and not exists (
                            select 1 from reversed_pairs as r
                            where r.payment_id = s.payment_id and r.invoice_id = s.invoice_id
                        )
                ), 0)
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

),

-- 2. Invoice numbers quoted in the remittance text.
tokens as (

    select distinct
        payment_id,
        token
    from (
        select
            payment_id,
            {{ split_to_rows('remittance_info') }} as token
        from payments
        where remittance_info is not null
            and payment_id not in (select payment_id from source_pairs)
    ) as words

),

reference_candidates as (

    select distinct
        payments.payment_id,
        invoices.invoice_id,
        payments.payment_date as applied_date,
        payments.amount as payment_amount,
        case when payments.customer_id is null then 0.90 else 0.99 end as match_confidence
    from tokens
    inner join payments on tokens.payment_id = payments.payment_id
    inner join invoices on tokens.token = upper(invoices.invoice_number)
    where invoices.currency = payments.currency
        and invoices.invoice_date <= payments.payment_date
        -- a reference to another customer's invoice is a typo more often than not
        and (payments.customer_id is null or payments.customer_id = invoices.customer_id)
        -- manual applications (int_manual_cash_applications)
        and not exists (
            select 1 from reversed_pairs as r
            where r.payment_id = payments.payment_id and r.invoice_id = invoices.invoice_id
        )

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
        'reference' as match_method,
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
        on pairs.invoice_id = credits.invoice_id and credits.credit_memo_date <= pairs.applied_date
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
        end as requested
    from estimated

),

-- Never apply more to an invoice than it is owed: later pairs get what earlier ones left.
capped as (

    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        match_confidence,
        {{ capped_to_open_balance('requested', 'applied_date, method_rank, payment_id') }} as applied_amount
    from requested

),

reference_and_source as (

    select * from capped where applied_amount > 0

),

-- 3. Exact amount against the customer's open invoices, for payments nothing else matched.
unmatched_payments as (

    select payments.*
    from payments
    where payments.customer_id is not null
        and payments.payment_id not in (select payment_id from pairs)

),

amount_candidates as (

    select
        unmatched_payments.payment_id,
        invoices.invoice_id,
        unmatched_payments.payment_date as applied_date,
        unmatched_payments.amount,
        invoices.due_date,
        invoices.invoice_amount
        - coalesce((
            select sum(credits.credit_amount) from credits
            where credits.invoice_id = invoices.invoice_id and credits.credit_memo_date <= unmatched_payments.payment_date
        ), 0)
        - coalesce((
            select sum(earlier.applied_amount) from reference_and_source as earlier
            where earlier.invoice_id = invoices.invoice_id and earlier.applied_date <= unmatched_payments.payment_date
        ), 0) as open_amount
    from unmatched_payments
    inner join invoices
        on unmatched_payments.customer_id = invoices.customer_id
        and unmatched_payments.currency = invoices.currency
        and invoices.invoice_date <= unmatched_payments.payment_date
    -- manual applications (int_manual_cash_applications)
    where not exists (
        select 1 from reversed_pairs as r
        where r.payment_id = unmatched_payments.payment_id and r.invoice_id = invoices.invoice_id
    )

),

amount_ranked as (

    select
        *,
        row_number() over (partition by payment_id order by due_date, invoice_id) as rank_for_payment,
        count(*) over (partition by payment_id) as n_candidates
    from amount_candidates
    where open_amount = amount

),

amount_matches as (

    select
        payment_id,
        invoice_id,
        applied_date,
        'amount' as match_method,
        cast(case when n_candidates = 1 then 0.80 else 0.60 end as decimal(3, 2)) as match_confidence,
        amount as applied_amount
    from (
        select
            *,
            -- two payments fitting the same invoice: the earlier one takes it
            row_number() over (partition by invoice_id order by applied_date, payment_id) as rank_for_invoice
        from amount_ranked
        where rank_for_payment = 1
    ) as best
    where rank_for_invoice = 1

),

combined as (

    select payment_id, invoice_id, applied_date, match_method, match_confidence, applied_amount, 0 as method_order
    from reference_and_source
    union all
    select payment_id, invoice_id, applied_date, match_method, match_confidence, applied_amount, 1 as method_order
    from amount_matches

),

combined_with_net as (

    select
        combined.*,
        invoices.invoice_amount - coalesce((
            select sum(credits.credit_amount) from credits
            where credits.invoice_id = combined.invoice_id and credits.credit_memo_date <= combined.applied_date
        ), 0) as net_amount
    from combined
    inner join invoices on combined.invoice_id = invoices.invoice_id

),

-- Across all methods, earlier applications come first and none takes an invoice below zero
-- (two payments for one invoice: the later one stays unapplied cash).
final as (

    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        match_confidence,
        {{ capped_to_open_balance('applied_amount', 'applied_date, method_order, payment_id') }} as applied_amount
    from combined_with_net

)

select
    {{ dbt.concat(["payment_id", "'|'", "invoice_id"]) }} as application_id,
    payment_id,
    invoice_id,
    applied_date,
    cast(applied_amount as {{ money_type() }}) as applied_amount,
    match_method,
    match_confidence
from final
where applied_amount > 0
