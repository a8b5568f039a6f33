{#- Cross-database helpers for what dbt's own cross-db macros do not cover. DuckDB is the default
    implementation; Spark variants keep the project portable (ARCHITECTURE rule 7). -#}

{#- Rows of the upper-cased words of a free text (remittance references), as `token`. Words are
    separated by blanks, commas, semicolons and colons only, so `INV-2025/0401.27` stays one. -#}
{% macro split_to_rows(text) -%}
    {{ return(adapter.dispatch('split_to_rows', 'o2c')(text)) }}
{%- endmacro %}

{% macro default__split_to_rows(text) -%}
    unnest(string_split_regex(upper({{ text }}), '[\s,;:]+'))
{%- endmacro %}

{% macro spark__split_to_rows(text) -%}
    explode(split(upper({{ text }}), '[\\s,;:]+'))
{%- endmacro %}

{#- Rows of the positions 1..length of a text, as many as it has characters (none for an empty
    one): to look at a key one character at a time. -#}
{% macro character_positions(text) -%}
    {{ return(adapter.dispatch('character_positions', 'o2c')(text)) }}
{%- endmacro %}

{% macro default__character_positions(text) -%}
    unnest(range(1, length({{ text }}) + 1))
{%- endmacro %}

{% macro spark__character_positions(text) -%}
    {#- sequence(1, 0) counts down; explode(null) gives no rows -#}
    explode(case when length({{ text }}) > 0 then sequence(1, length({{ text }})) end)
{%- endmacro %}

{#- The keys one character off a key (same length, one character different: levenshtein 1) share
    one of its masked forms, the key with one position replaced by `*`, and differ. Joining on the
    masked forms finds them by equality (macros/invoices_one_character_off.sql says when that pays).
    Keys are letters and digits, so `*` is no character of them. -#}
{% macro masked_key(key, position) -%}
    concat(substr({{ key }}, 1, {{ position }} - 1), '*', substr({{ key }}, {{ position }} + 1))
{%- endmacro %}

{#- Each row of `relation` once per character of its `key`: that character's position
    (`key_position`) and the key with it masked (`masked_key`). In two selects: Spark cannot use
    a column in the select that explodes it. -#}
{% macro masked_key_variants(relation, key) -%}
    select
        *,
        {{ masked_key(key, 'key_position') }} as masked_key
    from (
        select
            *,
            {{ character_positions(key) }} as key_position
        from {{ relation }}
    ) as positions
{%- endmacro %}

{#- Two keys of the same length that differ in exactly one character. DuckDB's hamming needs
    keys of one length (callers join on it); Spark has none, and between keys of one length a
    Levenshtein distance of 1 is one character replaced. -#}
{% macro one_character_apart(key, other) -%}
    {{ return(adapter.dispatch('one_character_apart', 'o2c')(key, other)) }}
{%- endmacro %}

{% macro default__one_character_apart(key, other) -%}
    hamming({{ key }}, {{ other }}) = 1
{%- endmacro %}

{% macro spark__one_character_apart(key, other) -%}
    levenshtein({{ key }}, {{ other }}) = 1
{%- endmacro %}

{#- A reference as a key: upper-cased letters and digits only (`inv-2025/0401` → `INV20250401`). -#}
{% macro reference_key(text) -%}
    {{ return(adapter.dispatch('reference_key', 'o2c')(text)) }}
{%- endmacro %}

{% macro default__reference_key(text) -%}
    regexp_replace(upper({{ text }}), '[^A-Z0-9]', '', 'g')
{%- endmacro %}

{% macro spark__reference_key(text) -%}
    regexp_replace(upper({{ text }}), '[^A-Z0-9]', '')
{%- endmacro %}

{#- The digits of a text, in order (`INV-2025/0401` → `20250401`). -#}
{% macro digits_of(text) -%}
    {{ return(adapter.dispatch('digits_of', 'o2c')(text)) }}
{%- endmacro %}

{% macro default__digits_of(text) -%}
    regexp_replace({{ text }}, '[^0-9]', '', 'g')
{%- endmacro %}

{% macro spark__digits_of(text) -%}
    regexp_replace({{ text }}, '[^0-9]', '')
{%- endmacro %}

{#- A company name as a key: upper-cased, legal forms dropped, letters and digits only, so
    `ACME INDUSTRIES GMBH` and `Acme Industries GmbH.` are the same payer. -#}
{% macro company_key(text) -%}
    {{ return(adapter.dispatch('company_key', 'o2c')(text)) }}
{%- endmacro %}

{% macro default__company_key(text) -%}
    regexp_replace(
        regexp_replace(upper({{ text }}), '\b(INC|LLC|GMBH|LTD|LIMITED|SA|SAS|SARL|BV|NV|KK|PTY|CORP|CORPORATION|CO|AG|PLC|SRL|SPA|AB|OY)\b', '', 'g'),
        '[^A-Z0-9]', '', 'g'
    )
{%- endmacro %}

{% macro spark__company_key(text) -%}
    regexp_replace(
        regexp_replace(upper({{ text }}), '\\b(INC|LLC|GMBH|LTD|LIMITED|SA|SAS|SARL|BV|NV|KK|PTY|CORP|CORPORATION|CO|AG|PLC|SRL|SPA|AB|OY)\\b', ''),
        '[^A-Z0-9]', ''
    )
{%- endmacro %}

{#- Whole days from `start` to `end` (dates), end − start. -#}
{% macro days_between(start, end) -%}
    {{ dbt.datediff(start, end, 'day') }}
{%- endmacro %}

{#- Money in the reporting currency: amount × rate, rounded to the cent (half up) from the exact
    product. -#}
{% macro to_reporting(amount, rate) -%}
    {{ return(adapter.dispatch('to_reporting', 'o2c')(amount, rate)) }}
{%- endmacro %}

{% macro default__to_reporting(amount, rate) -%}
    cast(round({{ amount }} * {{ rate }}, 2) as {{ money_type() }})
{%- endmacro %}

{#- Spark gives a product of more than 38 digits a smaller scale, rounding it before round() does:
    a sum (decimal(38, 2)) × a rate (decimal(18, 8)) kept 6 places, and 693.8349999816 became
    693.835000, then 693.84 where the exact product rounds to 693.83. Narrowed to 19 + 18 digits,
    the product is exact. -#}
{% macro spark__to_reporting(amount, rate) -%}
    cast(round(cast({{ amount }} as decimal(19, 2)) * cast({{ rate }} as decimal(18, 8)), 2) as {{ money_type() }})
{%- endmacro %}

{#- numerator ÷ denominator rounded half away from zero to `places` decimals, the same on every
    engine: DuckDB divides decimals into a double, Spark into a decimal, and an exact half such as
    88,493.70 ÷ 20 = 4,424.685 is a double a hair below it (4,424.68 on DuckDB, 4,424.69 on Spark).
    The quotient is taken to 6 decimals first on both. -#}
{% macro rounded_quotient(numerator, denominator, places) -%}
    round(cast({{ numerator }} / {{ denominator }} as decimal(38, 6)), {{ places }})
{%- endmacro %}

{#- A ratio as the marts publish it: numerator ÷ denominator rounded as rounded_quotient does, as a
    double, and null where the denominator is zero (no ratio, rather than an error or infinity). -#}
{% macro rounded_ratio(numerator, denominator, places) -%}
    cast({{ rounded_quotient('(' ~ numerator ~ ')', 'nullif(' ~ denominator ~ ', 0)', places) }} as double)
{%- endmacro %}

{#- `part` as a percentage of `whole`, rounded to `places` (null where `whole` is zero). -#}
{% macro percent_of(part, whole, places) -%}
    {{ rounded_ratio('100.0 * (' ~ part ~ ')', whole, places) }}
{%- endmacro %}

{#- `part` is at most `percent` % of `whole` (decimals), compared exactly on every engine: Spark
    brings the two sides of a comparison to one scale first, and `0.17 <= 16.74 * 1 / 100` (0.1674)
    was true there, 0.1674 rounded to 0.17. -#}
{% macro at_most_percent_of(part, whole, percent) -%}
    cast(({{ part }}) * 100 as decimal(38, 4)) <= cast(({{ whole }}) * {{ percent }} as decimal(38, 4))
{%- endmacro %}

{% macro money_type() -%}
    decimal(18, 2)
{%- endmacro %}

{#- A date literal. -#}
{% macro date_literal(value) -%}
    cast('{{ value }}' as date)
{%- endmacro %}

{#- The distinct non-null values of a group, sorted and joined by `separator` (null when none). -#}
{% macro sorted_distinct_string_agg(expression, separator) -%}
    {{ return(adapter.dispatch('sorted_distinct_string_agg', 'o2c')(expression, separator)) }}
{%- endmacro %}

{% macro default__sorted_distinct_string_agg(expression, separator) -%}
    string_agg(distinct {{ expression }}, '{{ separator }}' order by {{ expression }})
{%- endmacro %}

{% macro spark__sorted_distinct_string_agg(expression, separator) -%}
    nullif(array_join(array_sort(collect_set({{ expression }})), '{{ separator }}'), '')
{%- endmacro %}

{#- The `fraction` quantile of a group's values, interpolated linearly between the two nearest
    ranks (DuckDB's quantile_cont, Spark's percentile). -#}
{% macro continuous_quantile(expression, fraction) -%}
    {{ return(adapter.dispatch('continuous_quantile', 'o2c')(expression, fraction)) }}
{%- endmacro %}

{% macro default__continuous_quantile(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro spark__continuous_quantile(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
{%- endmacro %}

{#- How a model that replaces part of itself on each run is materialised: incremental where the
    engine can delete rows (DuckDB), rebuilt whole where its tables cannot (Spark's Parquet
    tables have no DELETE; merge needs Delta or Iceberg). -#}
{% macro partly_replaced_materialization() -%}
    {{ return(adapter.dispatch('partly_replaced_materialization', 'o2c')()) }}
{%- endmacro %}

{% macro default__partly_replaced_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__partly_replaced_materialization() -%}
    {{ return('table') }}
{%- endmacro %}
