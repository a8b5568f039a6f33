-- Where the money still on account probably goes, for a person to accept or not in the
-- Unapplied cash page (they are never applied by themselves). For each receipt of a known
-- customer holding money (int_unapplied_receipts), against that customer's items open today in
-- the receipt's currency (a pair reversed by hand is not suggested again):
--   reference_fuzzy  a word of the remittance text one character off the item's number (0.40);
--   amount / amount_combination  one item, or a subset of the `cash_application_max_open_items`
--                    due closest to the payment date, that makes the held amount within 5 %
--                    (exact 0.50, near 0.25; the three best fits);
--   partial          otherwise the three items due closest to the payment date that owe more
--                    than the receipt holds: part of one of them (0.10).
-- Confidences are low on purpose: what reaches here is what the matcher could not decide (on
-- the default simulated world about one suggestion in five is the truth).
-- One row per receipt and item, at the rank of the best suggestion it belongs to.
-- Incremental by customer (macros/incremental_by_key.sql): a receipt meets only its customer's
-- items, so a run suggests again only for the customers whose money on account, open items
-- today or reversed pairs changed.

{% set max_items = var('cash_application_max_open_items') %}
{#- how far from what the receipt holds an amount suggestion may be -#}
{% set within = 0.05 %}
{#- half the shorter of a remittance word and an item's reference key (by_reference) -#}
{% set half = 'cast(floor(least(length(tokens.token_key), length(candidates.reference_key)) / 2) as integer)' %}
{{ incremental_by_key('customer_id', 'payment_id') }}

with

all_receipts as (

    select * from {{ ref('int_unapplied_receipts') }}
    where customer_id is not null

),

reversed_pairs as (

    select
        payment_id,
        invoice_id
    from {{ ref('int_manual_cash_applications') }}
    where action = 'reverse'

),

open_today as (

    select
        intervals.invoice_id,
        invoices.invoice_number,
        invoices.reference_key,
        invoices.customer_id,
        invoices.currency,
        invoices.due_date,
        intervals.open_balance
    from {{ ref('int_invoice_balance_intervals') }} as intervals
    inner join {{ ref('int_data_as_of') }} as as_of
        on as_of.as_of_date between intervals.valid_from and intervals.valid_to
    inner join {{ ref('int_invoice_references') }} as invoices on intervals.invoice_id = invoices.invoice_id
    where intervals.open_balance > 0

),

-- What a customer's suggestions are made of: its receipts holding money, its items open today
-- and the pairs reversed on its receipts.
fingerprints as (

    select
        customer_id,
        sum(row_fingerprint) as inputs_fingerprint
    from (
        select
            customer_id,
            {{ row_fingerprint(
                ['payment_id', 'currency', 'payment_date', 'unapplied_amount', 'remittance_info']
            ) }} as row_fingerprint
        from all_receipts
        union all
        select
            customer_id,
            {{ row_fingerprint(['invoice_id', 'invoice_number', 'currency', 'due_date', 'open_balance']) }}
        from open_today
        where customer_id in (select all_receipts.customer_id from all_receipts)
        union all
        select
            receipts.customer_id,
            {{ row_fingerprint(['reversed_pairs.payment_id', 'reversed_pairs.invoice_id']) }}
        from reversed_pairs
        inner join all_receipts as receipts on reversed_pairs.payment_id = receipts.payment_id
    ) as parts
    group by customer_id

),

{% if is_incremental() %}
rebuilt as (

    {{ rebuilt_keys('fingerprints', 'customer_id') }}

),
{% endif %}

receipts as (

    select * from all_receipts
    {% if is_incremental() %}
    where customer_id in (select rebuilt.customer_id from rebuilt)
    {% endif %}

),

candidates as (

    select
        receipts.payment_id,
        receipts.unapplied_amount,
        receipts.remittance_info,
        open_today.invoice_id,
        open_today.invoice_number,
        open_today.reference_key,
        open_today.due_date,
        open_today.open_balance as open_amount,
        -- combinations are suggested within 5 % of what the receipt holds
        (1 + {{ within }}) * receipts.unapplied_amount as most_amount,
        abs({{ days_between('open_today.due_date', 'receipts.payment_date') }}) as days_from_due
    from receipts
    inner join open_today
        on receipts.customer_id = open_today.customer_id and receipts.currency = open_today.currency
    where not exists (
            select 1 from reversed_pairs as r
            where r.payment_id = receipts.payment_id and r.invoice_id = open_today.invoice_id
        )

),

{{ ranked_open_items('open_items', 'candidates', 'days_from_due, due_date, invoice_id', max_items) }},

fits as (

    select
        combinations.*,
        abs(combinations.combination_amount - receipts.unapplied_amount) as abs_difference,
        row_number() over (
            partition by combinations.payment_id
            order by
                abs(combinations.combination_amount - receipts.unapplied_amount),
                combinations.n_items,
                -- (closeness_sum names a single item: no two items of a receipt are as close)
                combinations.closeness_sum,
                combinations.subset_mask
        ) as fit_rank
    from ({{ open_item_combinations('open_items', max_items) }}) as combinations
    inner join receipts on combinations.payment_id = receipts.payment_id
    where abs(combinations.combination_amount - receipts.unapplied_amount) <= {{ within }} * receipts.unapplied_amount

),

by_amount as (

    select
        items.payment_id,
        items.invoice_id,
        fits.fit_rank as suggestion_rank,
        items.open_amount as suggested_amount,
        case when fits.n_items = 1 then 'amount' else 'amount_combination' end as match_method,
        case when fits.abs_difference = 0 then 0.50 else 0.25 end as match_confidence,
        case
            when fits.n_items = 1 and fits.abs_difference = 0 then 'owes exactly what the receipt holds'
            when fits.n_items = 1 then 'owes within 5 % of what the receipt holds'
            when fits.abs_difference = 0
                then 'with ' || cast(fits.n_items - 1 as {{ dbt.type_string() }})
                    || ' other open item(s) makes exactly what the receipt holds'
            else 'with ' || cast(fits.n_items - 1 as {{ dbt.type_string() }})
                || ' other open item(s) makes within 5 % of what the receipt holds'
        end as reason
    from fits
    inner join open_items as items
        on fits.payment_id = items.payment_id
        and {{ is_combination_member('items.closeness', 'items.bound_rank') }}
    where fits.fit_rank <= 3

),

-- the words of each receipt's remittance text, as reference keys
remittance_tokens as (

    select
        payment_id,
        {{ reference_key('token') }} as token_key
    from (
        select
            payment_id,
            {{ split_to_rows('remittance_info') }} as token
        from receipts
        where remittance_info is not null
    ) as words

),

by_reference as (

    select distinct
        candidates.payment_id,
        candidates.invoice_id,
        0 as suggestion_rank,
        least(candidates.open_amount, candidates.unapplied_amount) as suggested_amount,
        'reference_fuzzy' as match_method,
        0.40 as match_confidence,
        'the remittance text names a number one character off this invoice number' as reason
    from candidates
    inner join remittance_tokens as tokens on candidates.payment_id = tokens.payment_id
    where length(tokens.token_key) >= 6
        -- What one edit leaves of two keys, checked before the edit distance (at l, 15 M pairs of
        -- a receipt's word and its customer's item; the suggestions 20.1 against 17.7-18.4 s): the
        -- lengths differ by one at most, and the first or the last half of the shorter length
        -- is the same (an edit in the first half leaves the last intact, and the other way).
        and abs(length(tokens.token_key) - length(candidates.reference_key)) <= 1
        and (
            left(tokens.token_key, {{ half }}) = left(candidates.reference_key, {{ half }})
            or right(tokens.token_key, {{ half }}) = right(candidates.reference_key, {{ half }})
        )
        and levenshtein(tokens.token_key, candidates.reference_key) = 1

),

partial as (

    select
        payment_id,
        invoice_id,
        10 + closeness as suggestion_rank,
        unapplied_amount as suggested_amount,
        'partial' as match_method,
        0.10 as match_confidence,
        'owes more than the receipt holds: part of it' as reason
    from open_items
    where open_amount > unapplied_amount
        and payment_id not in (select fits.payment_id from fits)
        and closeness <= 3

),

unioned as (

    select * from by_reference
    union all
    select * from by_amount
    union all
    select * from partial

)

select
    best.payment_id,
    best.invoice_id,
    cast(best.suggested_amount as {{ money_type() }}) as suggested_amount,
    best.match_method,
    cast(best.match_confidence as decimal(3, 2)) as match_confidence,
    best.reason,
    best.suggestion_rank,
    receipts.customer_id,
    fingerprints.inputs_fingerprint,
    {{ rule_fingerprint() }} as rule_fingerprint
from (
    select
        *,
        row_number() over (partition by payment_id, invoice_id order by suggestion_rank asc, match_confidence desc)
            as rank_for_pair
    from unioned
) as best
inner join receipts on best.payment_id = receipts.payment_id
inner join fingerprints on receipts.customer_id = fingerprints.customer_id
where best.rank_for_pair = 1
{% if is_incremental() %}
-- a tombstone per rebuilt customer (macros/incremental_by_key.sql)
union all
select
    null as payment_id,
    null as invoice_id,
    null as suggested_amount,
    null as match_method,
    null as match_confidence,
    null as reason,
    null as suggestion_rank,
    customer_id,
    null as inputs_fingerprint,
    null as rule_fingerprint
from rebuilt
{% endif %}
