-- Cash application: which invoice each payment pays, for how much, by which method and at
-- what confidence. In order:
--   1. source       the source system applied the payment (confidence 1.00);
--   2. reference    an invoice number of the paying customer appears in the remittance text, in
--                   any format (`INV-2025/0401`, `inv 20250401`: letters and digits compared;
--                   0.99, 0.90 when the payer is unknown);
--      reference_fuzzy  one character off (a typo) from exactly one invoice of the customer, or a
--                   quoted invoice not owed the amount while exactly one invoice one character
--                   off is owed exactly that (0.85);
--   3. amount       what the references leave of a receipt of a known customer is made of the
--                   customer's open items at the payment date: one to three items, or a run of
--                   consecutive items by due date (bounded subset sum over the oldest
--                   `cash_application_max_open_items`). Exact sums first; then sums within the
--                   tolerance (bank fees, short payments, rounding: both
--                   `cash_application_tolerance_rc` in the reporting currency and
--                   `cash_application_tolerance_pct` of the items); fewer items, then older ones,
--                   break ties. Then an overpayment: one of the likeliest items and at most
--                   `cash_application_overpayment_pct` more (the rest stays on account). A best
--                   fit that another fits equally well is applied only when exact (to the
--                   oldest, 0.60); otherwise it is left for review.
--                   Two passes: receipts that lost their items to an earlier receipt try again.
--                   What is still on account is tried again `cash_application_retry_days`
--                   after the payment, against the items open then, and applied on that day
--                   (the second instalment of an invoice a batch paid part of makes the batch
--                   exact). A receipt quoting several invoices and paying less than they owe is
--                   not split by guess: it goes through the amount passes like the rest.
-- Manual applications entered in the Unapplied cash page come first (method 'manual', 1.00), and
-- a receipt applied by hand is left to the person; a pair reversed there is excluded from every
-- method.
-- Whatever is not applied stays unapplied cash (on account) and is suggested for review
-- (int_cash_application_suggestions). Only events dated on or before a payment decide its
-- application, so a past application never changes when later data arrives.

{% set max_items = var('cash_application_max_open_items') %}
{% set tolerance_rc = var('cash_application_tolerance_rc') %}
{% set tolerance_pct = var('cash_application_tolerance_pct') %}
{% set overpayment_pct = var('cash_application_overpayment_pct') %}
{#- passes 1 and 2 at the payment date; the later ones retry what is still on account -#}
{% set retry_days = {} %}
{% for days in var('cash_application_retry_days') %}
{% do retry_days.update({loop.index + 2: days}) %}
{% endfor %}
{% set passes = [1, 2] + retry_days.keys() | list %}

with

payments as (

    select
        payment_id,
        customer_id,
        payment_date,
        amount,
        currency,
        fx_rate,
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
        invoice_amount,
        {{ reference_key('invoice_number') }} as reference_key,
        {{ digits_of('invoice_number') }} as reference_digits
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

-- 2. Invoice numbers quoted in the remittance text, compared as letters and digits only; a
-- word of digits alone matches the digits of an invoice number (at least six, so amounts and
-- dates do not).
tokens as (

    select distinct
        payment_id,
        {{ reference_key('token') }} as token_key,
        {{ digits_of('token') }} as token_digits
    from (
        select
            payment_id,
            {{ split_to_rows('remittance_info') }} as token
        from payments
        where remittance_info is not null
            and payment_id not in (select source_pairs.payment_id from source_pairs)
    ) as words

),

quoted as (

    select
        tokens.payment_id,
        tokens.token_key,
        invoices.invoice_id
    from tokens
    inner join invoices on tokens.token_key = invoices.reference_key

    union

    select
        tokens.payment_id,
        tokens.token_key,
        invoices.invoice_id
    from tokens
    inner join invoices on tokens.token_digits = invoices.reference_digits
    where length(tokens.token_digits) >= 6
        and tokens.token_key = tokens.token_digits

),

exact_references as (

    select distinct
        payments.payment_id,
        quoted.token_key,
        invoices.invoice_id,
        payments.payment_date as applied_date,
        payments.amount as payment_amount,
        case when payments.customer_id is null then 0.90 else 0.99 end as match_confidence,
        'reference' as match_method
    from quoted
    inner join payments on quoted.payment_id = payments.payment_id
    inner join invoices on quoted.invoice_id = invoices.invoice_id
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

-- A receipt quoting one invoice of its customer for an amount that invoice is not owed, while
-- exactly one other invoice of the customer, one character off, is owed exactly that amount:
-- the quote is that invoice mistyped (a typo can hit another real invoice number).
misquoted as (

    select
        quoted.payment_id,
        quoted.invoice_id as quoted_invoice_id,
        min(neighbour.invoice_id) as invoice_id
    from exact_references as quoted
    inner join payments on quoted.payment_id = payments.payment_id
    inner join invoices as quoted_invoice on quoted.invoice_id = quoted_invoice.invoice_id
    inner join invoices as neighbour
        on quoted_invoice.customer_id = neighbour.customer_id
        and quoted_invoice.currency = neighbour.currency
        and quoted_invoice.invoice_id != neighbour.invoice_id
        and payments.payment_date >= neighbour.invoice_date
        and length(quoted_invoice.reference_key) = length(neighbour.reference_key)
        and levenshtein(quoted_invoice.reference_key, neighbour.reference_key) = 1
    where payments.customer_id is not null
        and quoted.payment_id in (
            select exact_references.payment_id from exact_references
            group by exact_references.payment_id
            having count(*) = 1
        )
        and payments.amount != quoted_invoice.invoice_amount - coalesce((
            select sum(credits.credit_amount) from credits
            where credits.invoice_id = quoted_invoice.invoice_id and credits.credit_memo_date <= payments.payment_date
        ), 0)
        and payments.amount = neighbour.invoice_amount - coalesce((
            select sum(credits.credit_amount) from credits
            where credits.invoice_id = neighbour.invoice_id and credits.credit_memo_date <= payments.payment_date
        ), 0)
    group by quoted.payment_id, quoted.invoice_id
    having count(*) = 1

),

-- A word that looks like an invoice number but is none: one character off from exactly one
-- invoice of the (known) paying customer is that invoice mistyped.
fuzzy_candidates as (

    select
        payments.payment_id,
        tokens.token_key,
        invoices.invoice_id,
        payments.payment_date as applied_date,
        payments.amount as payment_amount
    from tokens
    inner join payments on tokens.payment_id = payments.payment_id
    inner join invoices
        on payments.customer_id = invoices.customer_id
        and payments.currency = invoices.currency
        and payments.payment_date >= invoices.invoice_date
    where length(tokens.token_digits) >= 6
        -- (another customer's invoice number is no match for this customer: it may be a typo)
        and not exists (
            select 1 from exact_references
            where exact_references.payment_id = tokens.payment_id and exact_references.token_key = tokens.token_key
        )
        and length(invoices.reference_key) = length(tokens.token_key)
        and levenshtein(tokens.token_key, invoices.reference_key) = 1
        -- manual applications (int_manual_cash_applications)
        and not exists (
            select 1 from reversed_pairs as r
            where r.payment_id = payments.payment_id and r.invoice_id = invoices.invoice_id
        )

),

fuzzy_references as (

    select
        payment_id,
        min(invoice_id) as invoice_id,
        min(applied_date) as applied_date,
        min(payment_amount) as payment_amount,
        0.85 as match_confidence,
        'reference_fuzzy' as match_method
    from fuzzy_candidates
    group by payment_id, token_key
    having count(distinct invoice_id) = 1

),

reference_candidates as (

    select distinct
        payment_id,
        invoice_id,
        applied_date,
        payment_amount,
        match_confidence,
        match_method
    from exact_references
    where not exists (
            select 1 from misquoted
            where misquoted.payment_id = exact_references.payment_id
                and misquoted.quoted_invoice_id = exact_references.invoice_id
        )
    union
    select
        misquoted.payment_id,
        misquoted.invoice_id,
        payments.payment_date as applied_date,
        payments.amount as payment_amount,
        0.85 as match_confidence,
        'reference_fuzzy' as match_method
    from misquoted
    inner join payments on misquoted.payment_id = payments.payment_id
    union
    select * from fuzzy_references
    where not exists (
            select 1 from exact_references
            where exact_references.payment_id = fuzzy_references.payment_id
                and exact_references.invoice_id = fuzzy_references.invoice_id
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
        case when split_by_rule then cast(0.75 as decimal(3, 2)) else match_confidence end as match_confidence,
        {{ capped_to_open_balance('requested', 'applied_date, method_rank, payment_id') }} as applied_amount
    from requested

),

reference_and_source as (

    select * from capped
    where applied_amount > 0

),

-- 3. What references left of each receipt of a known customer, matched by amount.
receipts as (

    select
        payments.payment_id,
        payments.customer_id,
        payments.payment_date,
        payments.currency,
        payments.fx_rate,
        payments.payment_date as matched_on,
        payments.amount - coalesce(sum(applied.applied_amount), 0) as residual,
        count(applied.invoice_id) > 0 as has_references
    from payments
    left join reference_and_source as applied on payments.payment_id = applied.payment_id
    where payments.customer_id is not null
        and payments.payment_id not in (select source_pairs.payment_id from source_pairs)
    group by
        payments.payment_id, payments.customer_id, payments.payment_date, payments.currency, payments.fx_rate,
        payments.amount
    having payments.amount - coalesce(sum(applied.applied_amount), 0) > 0

),

-- How late the customer paid before this receipt (days after due, by earlier referenced or
-- source-applied payments): a receipt most likely pays the items due that long before it.
earlier_applications as (

    select
        invoices.customer_id,
        invoices.due_date,
        reference_and_source.applied_date
    from reference_and_source
    inner join invoices on reference_and_source.invoice_id = invoices.invoice_id

),

receipt_delays as (

    select
        receipts.payment_id,
        coalesce(avg({{ days_between('earlier.due_date', 'earlier.applied_date') }}), 0) as usual_delay_days
    from receipts
    left join earlier_applications as earlier
        on receipts.customer_id = earlier.customer_id and receipts.payment_date > earlier.applied_date
    group by receipts.payment_id

),

credit_events as (

    select
        invoice_id,
        credit_memo_date as event_date,
        credit_amount as amount
    from credits

),
{% for pass in passes %}
{%- set previous = 'pass' ~ (pass - 1) %}
pass{{ pass }}_receipts as (

    {% if pass == 1 %}
    select * from receipts
    {% elif pass in retry_days %}
    -- still on account: tried again later, against the items open then (an instalment paid
    -- since may have made the money exact), and applied on that day
    select
        payment_id,
        customer_id,
        payment_date,
        currency,
        fx_rate,
        cast({{ dbt.dateadd('day', retry_days[pass], 'payment_date') }} as date) as matched_on,
        residual,
        has_references
    from {{ previous }}_receipts
    where payment_id not in (select previous_matches.payment_id from {{ previous }}_matches as previous_matches)
        and {{ dbt.dateadd('day', retry_days[pass], 'payment_date') }}
        <= (select max(payments.payment_date) from payments)
    {% else %}
    select * from {{ previous }}_receipts
    where payment_id not in (select previous_matches.payment_id from {{ previous }}_matches as previous_matches)
    {% endif %}

),

pass{{ pass }}_settled as (

    select * from credit_events
    union all
    select
        invoice_id,
        applied_date as event_date,
        applied_amount as amount
    from reference_and_source
    {% for earlier in range(1, pass) %}
    union all
    select
        invoice_id,
        applied_date as event_date,
        applied_amount as amount
    from pass{{ earlier }}_matches
    {% endfor %}

),

-- The customer's items open at the payment date: all of them for a single-item match, the
-- `cash_application_max_open_items` most likely (due closest to the customer's usual delay
-- before the payment) for combinations.
pass{{ pass }}_open_items as (

    select
        *,
        case when closeness <= {{ max_items }} then
                row_number() over (partition by payment_id, closeness <= {{ max_items }} order by due_date, invoice_id)
        end as bound_rank
    from (
        select
            *,
            row_number() over (partition by payment_id order by due_date, invoice_id) as item_rank,
            row_number() over (
                partition by payment_id order by abs(expected_lag_days), due_date, invoice_id
            ) as closeness
        from (
            select
                receipts.payment_id,
                invoices.invoice_id,
                invoices.due_date,
                {{ days_between('invoices.due_date', 'receipts.payment_date') }}
                - min(delays.usual_delay_days) as expected_lag_days,
                invoices.invoice_amount - coalesce(sum(settled.amount), 0) as open_amount
            from pass{{ pass }}_receipts as receipts
            inner join receipt_delays as delays on receipts.payment_id = delays.payment_id
            inner join invoices
                on receipts.customer_id = invoices.customer_id
                and receipts.currency = invoices.currency
                and receipts.payment_date >= invoices.invoice_date
            left join pass{{ pass }}_settled as settled
                on invoices.invoice_id = settled.invoice_id and receipts.matched_on >= settled.event_date
            -- manual applications (int_manual_cash_applications)
            where not exists (
                    select 1 from reversed_pairs as r
                    where r.payment_id = receipts.payment_id and r.invoice_id = invoices.invoice_id
                )
            group by
                receipts.payment_id, invoices.invoice_id, invoices.due_date, invoices.invoice_amount,
                receipts.payment_date
            having invoices.invoice_amount - coalesce(sum(settled.amount), 0) > 0
        ) as open_at_payment
    ) as ranked

),

pass{{ pass }}_fits as (

    select
        combinations.*,
        receipts.fx_rate,
        combinations.combination_amount - receipts.residual as difference,
        abs(combinations.combination_amount - receipts.residual) as abs_difference
    from ({{ open_item_combinations('pass' ~ pass ~ '_open_items', max_items) }}) as combinations
    inner join pass{{ pass }}_receipts as receipts on combinations.payment_id = receipts.payment_id
    where combinations.combination_amount = receipts.residual
        -- within the tolerance: one item only (several would fit by chance), and not for what a
        -- receipt quoting invoices paid beyond them (an overpayment, not a fee)
        or (
            combinations.n_items = 1
            and not receipts.has_references
            and combinations.closeness_sum <= {{ max_items }}
            and abs(combinations.combination_amount - receipts.residual) * receipts.fx_rate <= {{ tolerance_rc }}
            and abs(combinations.combination_amount - receipts.residual)
            <= combinations.combination_amount * {{ tolerance_pct }} / 100
        )
        -- an overpayment: one of the likeliest items and a little more, the rest left on account
        or (
            combinations.n_items = 1
            and not receipts.has_references
            and combinations.closeness_sum <= 3
            and combinations.combination_amount < receipts.residual
            and receipts.residual - combinations.combination_amount
            <= combinations.combination_amount * {{ overpayment_pct }} / 100
        )

),

pass{{ pass }}_ranked as (

    select
        *,
        row_number() over (
            partition by payment_id
            order by fit_kind, abs_difference, n_items, closeness_sum, single_rank, subset_mask
        ) as fit_rank,
        count(*) over (partition by payment_id, abs_difference, n_items) as n_equal_fits,
        count(*) over (partition by payment_id, fit_kind) as n_kind_fits
    from (
        select
            *,
            case
                when difference = 0 then 1
                when abs_difference * fx_rate <= {{ tolerance_rc }}
                    and abs_difference <= combination_amount * {{ tolerance_pct }} / 100 then 2
                else 3
            end as fit_kind
        from pass{{ pass }}_fits
    ) as kinds

),

pass{{ pass }}_chosen as (

    select
        payment_id,
        single_rank,
        subset_mask,
        difference,
        case
            when fit_kind = 1 and n_items = 1 then 'amount'
            when fit_kind = 1 then 'amount_combination'
            when fit_kind = 2 then 'amount_tolerance'
            else 'amount_overpayment'
        end as match_method,
        case
            when fit_kind = 1 and n_equal_fits > 1 then 0.60
            when fit_kind = 1 and n_items = 1 then 0.90
            when fit_kind = 1 then 0.85
            when fit_kind = 2 then 0.70
            else 0.65
        end as match_confidence
    from pass{{ pass }}_ranked
    where fit_rank = 1
        -- a tie that is not exact is a guess, and so is an overpayment two items could explain:
        -- left for review
        and (fit_kind = 1 or (fit_kind = 2 and n_equal_fits = 1) or (fit_kind = 3 and n_kind_fits = 1))

),

-- Each chosen item gets its open amount; a short payment leaves its shortfall on the newest.
pass{{ pass }}_members as (

    select
        chosen.payment_id,
        items.invoice_id,
        receipts.matched_on as applied_date,
        chosen.match_method,
        chosen.match_confidence,
        case
            when chosen.difference > 0
                and items.item_rank = max(items.item_rank) over (partition by chosen.payment_id)
                then items.open_amount - chosen.difference
            else items.open_amount
        end as applied_amount
    from pass{{ pass }}_chosen as chosen
    inner join pass{{ pass }}_open_items as items
        on chosen.payment_id = items.payment_id
        and {{ is_combination_member('items.item_rank', 'items.bound_rank') }}
    inner join pass{{ pass }}_receipts as receipts on chosen.payment_id = receipts.payment_id

),

-- Two receipts claiming one invoice: the earlier keeps its whole choice, the later tries again
-- in the next pass (or stays unapplied).
pass{{ pass }}_matches as (

    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        match_confidence,
        applied_amount
    from pass{{ pass }}_members
    where payment_id not in (
            select claims.payment_id
            from (
                select
                    payment_id,
                    row_number() over (partition by invoice_id order by applied_date, payment_id) as claim_rank
                from pass{{ pass }}_members
            ) as claims
            where claims.claim_rank > 1
        )

),
{% endfor %}

combined as (

    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        match_confidence,
        applied_amount,
        0 as method_order
    from reference_and_source
    {% for pass in passes %}
    union all
    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        match_confidence,
        applied_amount,
        {{ pass }} as method_order
    from pass{{ pass }}_matches
    {% endfor %}

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
capped_all as (

    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        match_confidence,
        method_order,
        min(method_order) over (partition by payment_id, invoice_id) as first_method_order,
        {{ capped_to_open_balance('applied_amount', 'applied_date, method_order, payment_id') }} as applied_amount
    from combined_with_net

),

-- A receipt whose reference paid part of an invoice and whose rest paid more of it by amount
-- is one application, under the first method.
final as (

    select
        payment_id,
        invoice_id,
        min(applied_date) as applied_date,
        max(case when method_order = first_method_order then match_method end) as match_method,
        max(case when method_order = first_method_order then match_confidence end) as match_confidence,
        sum(applied_amount) as applied_amount
    from capped_all
    where applied_amount > 0
    group by payment_id, invoice_id

)

select
    {{ dbt.concat(["payment_id", "'|'", "invoice_id"]) }} as application_id,
    payment_id,
    invoice_id,
    applied_date,
    cast(applied_amount as {{ money_type() }}) as applied_amount,
    match_method,
    cast(match_confidence as decimal(3, 2)) as match_confidence
from final
