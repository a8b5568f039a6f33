{#- Cash application, step 3: one amount pass (int_payments_matched_to_invoices has the whole
    rule). Passes 1 and 2 match at the payment date; pass 2 tries again the receipts whose items
    an earlier receipt took in pass 1. Pass 3 on retries what is still on account
    `cash_application_retry_days` after the payment, against the items open then, and applies
    it on that day. Each pass is its own model (int_cash_application_pass_<n>), reading the
    earlier passes' tables: one statement per pass keeps every engine's planner on a small
    query. A pass beyond the configured retries matches nothing.

    A pass has one row per item a receipt was applied to, and one without an invoice for a
    receipt it tried and left on account. It is incremental by customer
    (macros/incremental_by_key.sql): a receipt meets only its customer's open items, their
    settling events and the customer's other receipts, so a run tries again only the customers
    with a new or changed receipt (for a retry, one that reached its retry date) or a change
    to what their receipts can meet (see `fingerprints`). The rows of receipts left on account
    are what lets a customer without a match keep its fingerprint. -#}
{% macro cash_application_amount_pass(pass) %}

{% set max_items = var('cash_application_max_open_items') %}
{% set tolerance_rc = var('cash_application_tolerance_rc') %}
{% set tolerance_pct = var('cash_application_tolerance_pct') %}
{% set overpayment_pct = var('cash_application_overpayment_pct') %}
{% set retry_days = var('cash_application_retry_days') %}
{% set configured = pass <= 2 + retry_days | length %}
{% set delay_days = 0 if pass <= 2 or not configured else retry_days[pass - 3] %}
{#- a receipt is retried only once the data reaches every retry date up to this pass -#}
{% set latest_retry_days = ([0] + retry_days[:pass - 2]) | max %}
{{ incremental_by_key('customer_id', 'payment_id') }}

with

eligible_receipts as (

    select
        payment_id,
        customer_id,
        payment_date,
        currency,
        fx_rate,
        residual,
        has_references,
        usual_delay_days,
        cast({{ dbt.dateadd('day', delay_days, 'payment_date') }} as date) as matched_on
    from {{ ref('int_cash_application_receipts') }}
    {% if not configured %}
    where 1 = 0
    {% else %}
    where 1 = 1
        {% for earlier in range(1, pass) %}
        and payment_id not in (
            select earlier_matches.payment_id from {{ ref('int_cash_application_pass_' ~ earlier) }} as earlier_matches
            where earlier_matches.invoice_id is not null
        )
        {% endfor %}
        {% if pass > 2 %}
        and {{ dbt.dateadd('day', latest_retry_days, 'payment_date') }}
        <= (select max(payments.payment_date) from {{ ref('int_payments_unioned') }} as payments)
        {% endif %}
    {% endif %}

),

invoices as (

    select
        invoice_id,
        customer_id,
        invoice_date,
        due_date,
        currency,
        invoice_amount
    from {{ ref('stg_erp__invoices') }}

),

-- manual applications (int_manual_cash_applications): pairs reversed by hand, whatever applied them
reversed_pairs as (

    select
        payment_id,
        invoice_id
    from {{ ref('int_manual_cash_applications') }}
    where action = 'reverse'

),

-- What was settled before: credits, the source's, people's and references' applications, and
-- the earlier passes' matches.
settled as (

    select
        invoice_id,
        credit_memo_date as event_date,
        credit_amount as amount
    from {{ ref('stg_erp__credit_memos') }}
    where invoice_id is not null
    union all
    select
        invoice_id,
        applied_date as event_date,
        applied_amount as amount
    from {{ ref('int_cash_application_references') }}
    where applied_amount > 0
    {% for earlier in range(1, pass) %}
    union all
    select
        invoice_id,
        applied_date as event_date,
        applied_amount as amount
    from {{ ref('int_cash_application_pass_' ~ earlier) }}
    where invoice_id is not null
    {% endfor %}

),

-- What a customer's matches are made of: its receipts this pass tries, and what they can meet:
-- its invoices dated by its last receipt, what settled them by the last day a receipt is
-- matched on, and the pairs reversed on them. A new invoice or settlement dated after that
-- changes nothing this pass decides; a backdated one does.
reach as (

    select
        customer_id,
        max(payment_date) as last_payment_date,
        max(matched_on) as last_matched_on
    from eligible_receipts
    group by customer_id

),

reachable_invoices as (

    select
        invoices.*,
        reach.last_matched_on
    from invoices
    inner join reach
        on invoices.customer_id = reach.customer_id and invoices.invoice_date <= reach.last_payment_date

),

fingerprints as (

    select
        customer_id,
        sum(row_fingerprint) as inputs_fingerprint
    from (
        select
            customer_id,
            {{ row_fingerprint([
                'payment_id', 'payment_date', 'currency', 'fx_rate', 'residual', 'has_references',
                'usual_delay_days',
            ]) }} as row_fingerprint
        from eligible_receipts
        union all
        select
            customer_id,
            {{ row_fingerprint(['invoice_id', 'invoice_date', 'due_date', 'currency', 'invoice_amount']) }}
        from reachable_invoices
        union all
        select
            invoices.customer_id,
            {{ row_fingerprint(['settled.invoice_id', 'settled.event_date', 'settled.amount']) }}
        from settled
        inner join reachable_invoices as invoices on settled.invoice_id = invoices.invoice_id
        where settled.event_date <= invoices.last_matched_on
        union all
        select
            invoices.customer_id,
            {{ row_fingerprint(['reversed_pairs.payment_id', 'reversed_pairs.invoice_id']) }}
        from reversed_pairs
        inner join reachable_invoices as invoices on reversed_pairs.invoice_id = invoices.invoice_id
    ) as parts
    group by customer_id

),

{% if is_incremental() %}
rebuilt as (

    {{ rebuilt_keys('fingerprints', 'customer_id') }}

),
{% endif %}

receipts as (

    select * from eligible_receipts
    {% if is_incremental() %}
    where customer_id in (select rebuilt.customer_id from rebuilt)
    {% endif %}

),

-- What each invoice of these customers is owed after each day something above settled part of
-- it, until the next such day (open-ended after the last): a receipt reads what it is owed on
-- the day it is matched from the one interval it falls in, not by summing every earlier event
-- again for each receipt.
owed_by_day as (

    select
        invoice_id,
        event_date,
        lead(event_date) over (partition by invoice_id order by event_date) as next_event_date,
        owed_after
    from (
        select
            invoice_id,
            event_date,
            invoice_amount - sum(day_amount) over (
                partition by invoice_id order by event_date rows between unbounded preceding and current row
            ) as owed_after
        from (
            select
                settled.invoice_id,
                settled.event_date,
                invoices.invoice_amount,
                coalesce(sum(settled.amount), 0) as day_amount  -- a missing amount settles nothing
            from settled
            inner join invoices on settled.invoice_id = invoices.invoice_id
            where invoices.customer_id in (select receipts.customer_id from receipts)
            group by settled.invoice_id, settled.event_date, invoices.invoice_amount
        ) as settled_by_day
    ) as owed

),

-- When each invoice is closed for good: the first day from which it is never owed anything
-- again. Most of a customer's invoices dated before a receipt were settled long before it, and
-- a receipt meets every earlier invoice of its customer, so pairs matched on or after that day
-- are not formed (at l, 81 M pairs -> 25 M). Settled amounts may be negative (a reversal), so it
-- is the first day after which what is owed stays at or below zero, not the first time it
-- reaches zero.
closed as (

    select
        invoice_id,
        min(event_date) as closed_from
    from (
        select
            invoice_id,
            event_date,
            max(owed_after) over (
                partition by invoice_id order by event_date desc rows between unbounded preceding and current row
            ) as most_owed_from_here
        from owed_by_day
    ) as owed_from_here
    where most_owed_from_here <= 0
    group by invoice_id

),

-- The customer's items open at the payment date: all of them for a single-item match, the
-- `cash_application_max_open_items` most likely (due closest to the customer's usual delay
-- before the payment) for combinations.
open_at_payment as (

    select
        receipts.payment_id,
        invoices.invoice_id,
        invoices.due_date,
        {{ days_between('invoices.due_date', 'receipts.payment_date') }}
        - receipts.usual_delay_days as expected_lag_days,
        coalesce(owed.owed_after, invoices.invoice_amount) as open_amount,
        -- several items are a fit only when they make the receipt exactly
        receipts.residual as most_amount
    from receipts as receipts
    inner join invoices
        on receipts.customer_id = invoices.customer_id
        and receipts.currency = invoices.currency
        and receipts.payment_date >= invoices.invoice_date
    left join closed
        on invoices.invoice_id = closed.invoice_id
    left join owed_by_day as owed
        on invoices.invoice_id = owed.invoice_id
        and receipts.matched_on >= owed.event_date
        and (owed.next_event_date is null or receipts.matched_on < owed.next_event_date)
    -- manual applications (int_manual_cash_applications); a join, not `not exists`, which
    -- DuckDB planned as a join against every distinct pair (a sixth of pass 1's CPU at l)
    left join reversed_pairs as reversed
        on receipts.payment_id = reversed.payment_id and invoices.invoice_id = reversed.invoice_id
    where (closed.closed_from is null or receipts.matched_on < closed.closed_from)
        and reversed.payment_id is null
        and coalesce(owed.owed_after, invoices.invoice_amount) > 0

),

{{ ranked_open_items('open_items', 'open_at_payment', 'abs(expected_lag_days), due_date, invoice_id', max_items) }},

fits as (

    select
        combinations.*,
        receipts.fx_rate,
        combinations.combination_amount - receipts.residual as difference,
        abs(combinations.combination_amount - receipts.residual) as abs_difference
    -- several items only when they make the receipt exactly (most_amount is its residual)
    from ({{ open_item_combinations('open_items', max_items, several_only_exact=true) }}) as combinations
    inner join receipts as receipts on combinations.payment_id = receipts.payment_id
    where combinations.combination_amount = receipts.residual
        -- within the tolerance: one item only (several would fit by chance), and not for what a
        -- receipt quoting invoices paid beyond them (an overpayment, not a fee)
        or (
            combinations.n_items = 1
            and not receipts.has_references
            and combinations.closeness_sum <= {{ max_items }}
            and abs(combinations.combination_amount - receipts.residual) * receipts.fx_rate <= {{ tolerance_rc }}
            and {{ at_most_percent_of(
                'abs(combinations.combination_amount - receipts.residual)',
                'combinations.combination_amount',
                tolerance_pct
            ) }}
        )
        -- an overpayment: one of the likeliest items and a little more, the rest left on account
        or (
            combinations.n_items = 1
            and not receipts.has_references
            and combinations.closeness_sum <= 3
            and combinations.combination_amount < receipts.residual
            and {{ at_most_percent_of(
                'receipts.residual - combinations.combination_amount',
                'combinations.combination_amount',
                overpayment_pct
            ) }}
        )

),

ranked as (

    select
        *,
        row_number() over (
            partition by payment_id
            -- (closeness_sum names a single item: no two items of a receipt are as close)
            order by fit_kind, abs_difference, n_items, closeness_sum, subset_mask
        ) as fit_rank,
        count(*) over (partition by payment_id, abs_difference, n_items) as n_equal_fits,
        count(*) over (partition by payment_id, fit_kind) as n_kind_fits
    from (
        select
            *,
            case
                when difference = 0 then 1
                when abs_difference * fx_rate <= {{ tolerance_rc }}
                    and {{ at_most_percent_of('abs_difference', 'combination_amount', tolerance_pct) }} then 2
                else 3
            end as fit_kind
        from fits
    ) as kinds

),

chosen as (

    select
        payment_id,
        single_closeness,
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
    from ranked
    where fit_rank = 1
        -- a tie that is not exact is a guess, and so is an overpayment two items could explain:
        -- left for review
        and (fit_kind = 1 or (fit_kind = 2 and n_equal_fits = 1) or (fit_kind = 3 and n_kind_fits = 1))

),

-- Each chosen item gets its open amount; a short payment leaves its shortfall on the newest.
members as (

    select
        chosen.payment_id,
        items.invoice_id,
        receipts.matched_on as applied_date,
        chosen.match_method,
        chosen.match_confidence,
        case
            when chosen.difference > 0
                -- the last of the chosen items in due-date order
                and row_number() over (partition by chosen.payment_id order by items.due_date, items.invoice_id)
                = count(*) over (partition by chosen.payment_id)
                then items.open_amount - chosen.difference
            else items.open_amount
        end as applied_amount
    from chosen as chosen
    inner join open_items as items
        on chosen.payment_id = items.payment_id
        and {{ is_combination_member('items.closeness', 'items.bound_rank') }}
    inner join receipts as receipts on chosen.payment_id = receipts.payment_id

),

-- Two receipts claiming one invoice: the earlier keeps its whole choice, the later tries again
-- in the next pass (or stays unapplied).
matches as (

    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        match_confidence,
        applied_amount
    from members
    where payment_id not in (
            select claims.payment_id
            from (
                select
                    payment_id,
                    row_number() over (partition by invoice_id order by applied_date, payment_id) as claim_rank
                from members
            ) as claims
            where claims.claim_rank > 1
        )

)

select
    receipts.payment_id,
    receipts.customer_id,
    matches.invoice_id,
    matches.applied_date,
    matches.match_method,
    matches.match_confidence,
    matches.applied_amount,
    fingerprints.inputs_fingerprint,
    {{ rule_fingerprint() }} as rule_fingerprint
from receipts
inner join fingerprints on receipts.customer_id = fingerprints.customer_id
left join matches on receipts.payment_id = matches.payment_id
{% if is_incremental() %}
-- a tombstone per rebuilt customer (macros/incremental_by_key.sql)
union all
select
    null as payment_id,
    customer_id,
    null as invoice_id,
    null as applied_date,
    null as match_method,
    null as match_confidence,
    null as applied_amount,
    null as inputs_fingerprint,
    null as rule_fingerprint
from rebuilt
{% endif %}

{% endmacro %}
