{#- Bounded subset sum for cash application: the ways a receipt's unapplied amount can be made of
    its customer's open items. `open_items` has one row per (payment_id, invoice) with item_rank
    (due-date order over all the receipt's open items), closeness (1 = the item the receipt most
    likely pays), bound_rank (1..max_items among the closest items; null beyond them) and
    open_amount. Returns one row per combination: every single open item (single_rank), and
    every subset of the closest items (subset_mask: bit k-1 set = the item of bound_rank k is in),
    so a batch payer's transfer for any of the items due around its date is found.
    closeness_sum breaks ties between equally good fits. -#}
{% macro open_item_combinations(open_items, max_items) %}

    select
        payment_id,
        item_rank as single_rank,
        cast(null as bigint) as subset_mask,
        1 as n_items,
        open_amount as combination_amount,
        closeness as closeness_sum
    from {{ open_items }}
    where bound_rank is null

    union all

    select
        items.payment_id,
        cast(null as bigint) as single_rank,
        masks.subset_mask,
        count(*) as n_items,
        sum(items.open_amount) as combination_amount,
        sum(items.closeness) as closeness_sum
    from (
        select
            *,
            -- masks beyond the receipt's own items would repeat its subsets
            power(2, max(bound_rank) over (partition by payment_id)) as n_subsets
        from {{ open_items }}
        where bound_rank is not null
    ) as items
    inner join (
        select cast(generated_number as bigint) as subset_mask
        from ({{ dbt.generate_series(2 ** max_items - 1) }}) as series
    ) as masks
        on masks.subset_mask < items.n_subsets
        and {{ bit_is_set('masks.subset_mask', 'items.bound_rank - 1') }}
    group by items.payment_id, masks.subset_mask

{% endmacro %}

{#- Whether an open item (its item_rank and bound_rank) belongs to a combination. -#}
{% macro is_combination_member(item_rank, bound_rank) -%}
    (
        {{ item_rank }} = single_rank
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
