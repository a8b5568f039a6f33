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

{% set max_items = var('cash_application_max_open_items') %}
{#- how far from what the receipt holds an amount suggestion may be -#}
{% set within = 0.05 %}

with

receipts as (

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
        invoices.customer_id,
        invoices.currency,
        invoices.due_date,
        intervals.open_balance
    from {{ ref('int_invoice_balance_intervals') }} as intervals
    inner join {{ ref('int_data_as_of') }} as as_of
        on as_of.as_of_date between intervals.valid_from and intervals.valid_to
    inner join {{ ref('stg_erp__invoices') }} as invoices on intervals.invoice_id = invoices.invoice_id
    where intervals.open_balance > 0

),

candidates as (

    select
        receipts.payment_id,
        receipts.unapplied_amount,
        receipts.remittance_info,
        open_today.invoice_id,
        open_today.invoice_number,
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

open_items as (

    select
        *,
        case when closeness <= {{ max_items }} then
                row_number() over (partition by payment_id, closeness <= {{ max_items }} order by due_date, invoice_id)
        end as bound_rank
    from (
        select
            *,
            row_number() over (partition by payment_id order by due_date, invoice_id) as item_rank,
            row_number() over (partition by payment_id order by days_from_due, due_date, invoice_id) as closeness
        from candidates
    ) as ranked

),

fits as (

    select
        combinations.*,
        abs(combinations.combination_amount - receipts.unapplied_amount) as abs_difference,
        row_number() over (
            partition by combinations.payment_id
            order by
                abs(combinations.combination_amount - receipts.unapplied_amount),
                combinations.n_items,
                combinations.closeness_sum,
                combinations.single_rank,
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
        and {{ is_combination_member('items.item_rank', 'items.bound_rank') }}
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
        and levenshtein(tokens.token_key, {{ reference_key('candidates.invoice_number') }}) = 1

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
    payment_id,
    invoice_id,
    cast(suggested_amount as {{ money_type() }}) as suggested_amount,
    match_method,
    cast(match_confidence as decimal(3, 2)) as match_confidence,
    reason,
    suggestion_rank
from (
    select
        *,
        row_number() over (partition by payment_id, invoice_id order by suggestion_rank asc, match_confidence desc)
            as rank_for_pair
    from unioned
) as best
where rank_for_pair = 1
