{#- The invoices one character off each query: rows of `queries` (payment_id, quoted_invoice_id,
    query_key, customer_id, currency, payment_date) with the `invoice_id` of every invoice of
    `invoices` (invoice_id, customer_id, currency, invoice_date, reference_key) of the same
    customer and currency, dated by the payment, whose key is one character off the query's.

    Two ways to find them, chosen per customer, currency and key length by what they cost:
    - pair by pair: each query against each such invoice (macros/cross_db.sql
      one_character_apart), queries × invoices comparisons;
    - masked: every query and invoice key once per character, that character masked, joined on
      equality (masked_key_variants), characters × (queries + invoices) rows.
    A masked row costs about ten comparisons (DuckDB, 2 cores: 3e8 pairs in 3.1 s, 1.0 M masked
    rows in 0.12 s), so a customer is masked when it has more queries than ten times the
    characters of its keys (var typo_pair_queries_per_character): a large account short-paying
    hundreds of invoices, whose comparisons would grow with the square of its size. Masking every
    invoice took the model 5.3 s at scale m and 78 s at l; comparing pairs 3.5 s and 43 s. -#}
{% macro invoices_one_character_off(queries, invoices) -%}

    with

    query_groups as (

        select
            customer_id,
            currency,
            length(query_key) as key_length,
            count(*) > {{ var('typo_pair_queries_per_character') }} * length(query_key) as is_masked
        from {{ queries }}
        group by customer_id, currency, length(query_key)

    ),

    grouped_queries as (

        select
            queries.*,
            query_groups.is_masked
        from {{ queries }} as queries
        inner join query_groups
            on queries.customer_id = query_groups.customer_id
            and queries.currency = query_groups.currency
            and length(queries.query_key) = query_groups.key_length

    ),

    masked_queries as (

        select * from grouped_queries where is_masked

    ),

    masked_invoices as (

        select
            invoices.invoice_id,
            invoices.customer_id,
            invoices.currency,
            invoices.invoice_date,
            invoices.reference_key
        from {{ invoices }} as invoices
        inner join query_groups
            on invoices.customer_id = query_groups.customer_id
            and invoices.currency = query_groups.currency
            and length(invoices.reference_key) = query_groups.key_length
        where query_groups.is_masked

    ),

    masked_query_variants as (

        {{ masked_key_variants('masked_queries', 'query_key') }}

    ),

    masked_invoice_variants as (

        {{ masked_key_variants('masked_invoices', 'reference_key') }}

    )

    select
        queries.payment_id,
        queries.quoted_invoice_id,
        queries.query_key,
        invoices.invoice_id
    from grouped_queries as queries
    inner join {{ invoices }} as invoices
        on queries.customer_id = invoices.customer_id
        and queries.currency = invoices.currency
        and length(queries.query_key) = length(invoices.reference_key)
        and queries.payment_date >= invoices.invoice_date
    where not queries.is_masked
        and {{ one_character_apart('queries.query_key', 'invoices.reference_key') }}

    union all

    select
        queries.payment_id,
        queries.quoted_invoice_id,
        queries.query_key,
        invoices.invoice_id
    from masked_query_variants as queries
    inner join masked_invoice_variants as invoices
        on queries.customer_id = invoices.customer_id
        and queries.currency = invoices.currency
        and queries.masked_key = invoices.masked_key
        and queries.query_key != invoices.reference_key
        and queries.payment_date >= invoices.invoice_date

{%- endmacro %}
