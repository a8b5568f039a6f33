{#- The FX as-of join, the one home of "an amount converts at the rate valid on its date": joins
    int_fx_rates_valid_ranges (a published rate holds until the next one; the reporting currency
    converts at 1) as `alias` on `currency` and `rate_date`. `alias`.rate is then the rate into
    the reporting currency (to_reporting converts with it). A left join keeps rows without a rate
    (the rate is null; assert_every_currency_has_an_fx_rate names them). -#}
{% macro join_fx_rate_as_of(currency, rate_date, alias='fx', join_type='left') -%}
    {{ return(adapter.dispatch('join_fx_rate_as_of', 'o2c')(currency, rate_date, alias, join_type)) }}
{%- endmacro %}

{% macro default__join_fx_rate_as_of(currency, rate_date, alias, join_type) -%}
    {{ join_type }} join {{ ref('int_fx_rates_valid_ranges') }} as {{ alias }}
        on {{ currency }} = {{ alias }}.currency and {{ rate_date }} between {{ alias }}.valid_from and {{ alias }}.valid_to
{%- endmacro %}

{#- DuckDB: an ASOF join, the range that starts last on or before the date. A currency's ranges
    run from 1900-01-01 to 9999-12-31 without gap or overlap (assert_fx_rate_ranges_leave_no_gap),
    so that range is the one holding the date, found by sorting both sides once per currency: the
    join above pairs each row with every range of its currency and keeps one (at m, the orders'
    rates 0.33-0.40 s against 0.07-0.09 s). -#}
{% macro duckdb__join_fx_rate_as_of(currency, rate_date, alias, join_type) -%}
    asof {{ join_type }} join {{ ref('int_fx_rates_valid_ranges') }} as {{ alias }}
        on {{ currency }} = {{ alias }}.currency and {{ rate_date }} >= {{ alias }}.valid_from
{%- endmacro %}

{#- In a model incremental by loads (macros/incremental_by_key.sql): per currency, the first date
    from which an amount may now convert at another rate, given the rates loaded since the model's
    last build: the earliest such rate's date, or 1900 when that rate is now the currency's first
    (the first rate holds for every day before it). Rows (currency, from_date). -#}
{% macro dates_a_rate_loaded_since_reaches() -%}
    select
        rates_loaded.currency,
        case
            when rates_loaded.rate_date <= min(rates.rate_date) then {{ date_literal('1900-01-01') }}
            else rates_loaded.rate_date
        end as from_date
    from (
        select
            from_currency as currency,
            min(rate_date) as rate_date
        from {{ ref('stg_fx__fx_rates') }}
        where to_currency = '{{ var("reporting_currency") }}' and {{ loaded_since_last_build() }}
        group by from_currency
    ) as rates_loaded
    inner join {{ ref('stg_fx__fx_rates') }} as rates
        on rates_loaded.currency = rates.from_currency
    where rates.to_currency = '{{ var("reporting_currency") }}'
    group by rates_loaded.currency, rates_loaded.rate_date
{%- endmacro %}
