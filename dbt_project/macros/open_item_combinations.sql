{#- Bounded subset sum for cash application: the ways a receipt's unapplied amount can be made of
    its customer's open items. `open_items` has one row per (payment_id, invoice) with closeness
    (1 = the item the receipt most likely pays; one item each), bound_rank (1..max_items among
    the closest items; null beyond them) and open_amount (always positive), and most_amount: the
    receipt's largest amount worth making of several items. Returns one row per combination:
    every single open item (single_closeness, its closeness, names it), and
    every subset of the closest items (subset_mask: bit k-1 set = the item of bound_rank k is in)
    of several items up to most_amount, so a batch payer's transfer for any of the items due
    around its date is found. closeness_sum breaks ties between equally good fits. With
    `several_only_exact`, the subsets of several items are kept only when they make most_amount
    exactly: a caller that takes no other (the amount passes) drops the rest here, before they
    meet anything (joining every subset to its receipt was a third of pass 1's CPU at m). -#}
{% macro open_item_combinations(open_items, max_items, several_only_exact=false) %}

    select
        payment_id,
        closeness as single_closeness,
        cast(null as bigint) as subset_mask,
        1 as n_items,
        open_amount as combination_amount,
        closeness as closeness_sum
    from {{ open_items }}
    where bound_rank is null

    union all

    select
        payment_id,
        cast(null as bigint) as single_closeness,
        subset_mask,
        n_items,
        combination_amount,
        closeness_sum
    from ({{ subsets_by_doubling(open_items, max_items) }}) as subsets
    where subset_mask > 0
        {%- if several_only_exact %}
        and (n_items = 1 or combination_amount = most_amount)
        {%- endif %}

{% endmacro %}

{#- The CTEs `<name>_ranked` and `<name>`: the open items `items` (one row per payment_id and
    invoice_id, with due_date) ranked as open_item_combinations reads them: closeness in
    `closeness_order` (1 = the item the receipt most likely pays), and bound_rank, in due-date
    order, among the `max_items` closest only (null beyond them). Every item of every receipt is
    sorted once, by closeness; bound_rank sorts the closest alone. (A rank of every item in
    due-date order, and bound_rank partitioned by whether an item is among the closest, sorted
    all of them twice more: at l the first alone took 28 of pass 1's 128 CPU-s.) -#}
{% macro ranked_open_items(name, items, closeness_order, max_items) %}
{{ name }}_ranked as (

    select
        *,
        row_number() over (partition by payment_id order by {{ closeness_order }}) as closeness
    from {{ items }}

),

{{ name }} as (

    select
        *,
        cast(null as bigint) as bound_rank
    from {{ name }}_ranked
    where closeness > {{ max_items }}

    union all

    select
        *,
        row_number() over (partition by payment_id order by due_date, invoice_id) as bound_rank
    from {{ name }}_ranked
    where closeness <= {{ max_items }}

)
{%- endmacro %}

{#- The subsets of each receipt's items of bound_rank 1..max_items (the empty one included) that
    are single items or add up to at most most_amount, with their item count, amount and
    closeness. Built by doubling: the subsets of the first k items are those of the first k-1,
    without and with item k. Items are positive, so a subset past most_amount is dropped when it
    is made: every subset built from it would be past it too. At most 2^n rows for a receipt
    with n items, each made once (summing the members of every (subset, item) pair instead made
    n·2^(n-1) rows, then grouped them: most of the cash application's time).
    The receipt's items are first laid out in one row (amount_k, closeness_k for bound_rank k),
    which each level carries along: each level reads only the one below it, and `open_items` is
    read once. Joining every level to `open_items` made Spark, which inlines it, compute it again
    for each level, and run out of memory at scale s. -#}
{% macro subsets_by_doubling(open_items, max_items) %}
    {%- set ns = namespace(sql='') -%}
    {%- set ns.sql -%}
        select
            payment_id,
            cast(0 as bigint) as subset_mask,
            0 as n_items,
            min(open_amount) - min(open_amount) as combination_amount, {#- a zero of the amounts' own type #}
            0 as closeness_sum,
            max(most_amount) as most_amount
            {%- for k in range(1, max_items + 1) %},
            max(case when bound_rank = {{ k }} then open_amount end) as amount_{{ k }},
            max(case when bound_rank = {{ k }} then closeness end) as closeness_{{ k }}
            {%- endfor %}
        from {{ open_items }}
        where bound_rank is not null
        group by payment_id
    {%- endset -%}
    {%- for k in range(1, max_items + 1) -%}
        {%- set ns.sql -%}
        select
            smaller.payment_id,
            smaller.subset_mask + taken.is_in * {{ 2 ** (k - 1) }} as subset_mask,
            smaller.n_items + taken.is_in as n_items,
            case
                when taken.is_in = 1 then smaller.combination_amount + smaller.amount_{{ k }}
                else smaller.combination_amount
            end as combination_amount,
            case
                when taken.is_in = 1 then smaller.closeness_sum + smaller.closeness_{{ k }}
                else smaller.closeness_sum
            end as closeness_sum,
            smaller.most_amount
            {%- for later in range(k + 1, max_items + 1) %},
            smaller.amount_{{ later }},
            smaller.closeness_{{ later }}
            {%- endfor %}
        from ({{ ns.sql }}) as smaller
        inner join (select 0 as is_in union all select 1 as is_in) as taken
            on taken.is_in = 0
            or (
                smaller.amount_{{ k }} is not null
                and (
                    smaller.n_items = 0
                    or smaller.combination_amount + smaller.amount_{{ k }} <= smaller.most_amount
                )
            )
        {%- endset -%}
    {%- endfor -%}
    {{ ns.sql }}
{% endmacro %}

{#- Whether an open item (its closeness and bound_rank) belongs to a combination. -#}
{% macro is_combination_member(closeness, bound_rank) -%}
    (
        {{ closeness }} = single_closeness
        or (subset_mask is not null and {{ bit_is_set('subset_mask', bound_rank ~ ' - 1') }})
    )
{%- endmacro %}

{#- Whether bit `position` (0 = lowest) of integer `mask` is set. -#}
{% macro bit_is_set(mask, position) -%}
    {{ return(adapter.dispatch('bit_is_set', 'o2c')(mask, position)) }}
{%- endmacro %}

{% macro default__bit_is_set(mask, position) -%}
    (({{ mask }} >> ({{ position }})) & 1) = 1
{%- endmacro %}

{% macro spark__bit_is_set(mask, position) -%}
    (shiftright({{ mask }}, {{ position }}) & 1) = 1
{%- endmacro %}
