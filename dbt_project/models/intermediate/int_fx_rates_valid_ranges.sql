-- One row per currency and validity range: a published rate holds until the next publication
-- (weekends and holidays use the last business day's rate; days before the first publication
-- use the first rate). The reporting currency converts to itself at 1.

with

rates as (

    select
        from_currency as currency,
        rate,
        rate_date
    from {{ ref('stg_fx__fx_rates') }}
    where to_currency = '{{ var("reporting_currency") }}'

),

ranged as (

    select
        currency,
        rate,
        case
            when row_number() over (partition by currency order by rate_date) = 1 then {{ date_literal('1900-01-01') }}
            else rate_date
        end as valid_from,
        coalesce(
            cast({{ dbt.dateadd(
                'day', -1, 'lead(rate_date) over (partition by currency order by rate_date)'
            ) }} as date),
            {{ date_literal('9999-12-31') }}
        ) as valid_to
    from rates

),

reporting_currency as (

    select
        '{{ var("reporting_currency") }}' as currency,
        cast(1 as decimal(18, 8)) as rate,
        {{ date_literal('1900-01-01') }} as valid_from,
        {{ date_literal('9999-12-31') }} as valid_to

)

select * from ranged
union all
select * from reporting_currency
