{#- The FX as-of join, the one home of "an amount converts at the rate valid on its date": joins
    int_fx_rates_valid_ranges (a published rate holds until the next one; the reporting currency
    converts at 1) as `alias` on `currency` and `rate_date`. `alias`.rate is then the rate into
    the reporting currency (to_reporting converts with it). A left join keeps rows without a rate
    (the rate is null; assert_every_currency_has_an_fx_rate names them). -#}
{% macro join_fx_rate_as_of(currency, rate_date, alias='fx', join_type='left') -%}
    {{ join_type }} join {{ ref('int_fx_rates_valid_ranges') }} as {{ alias }}
        on {{ currency }} = {{ alias }}.currency and {{ rate_date }} between {{ alias }}.valid_from and {{ alias }}.valid_to
{%- endmacro %}
