{{ config(meta={'dagster': {'ref': {'name': 'int_fx_rates_valid_ranges'}}}) }}

-- A currency's rate ranges cover every day from 1900-01-01 to 9999-12-31, each starting the day
-- after the one before ends: the FX as-of join on DuckDB (macros/fx_rate_as_of.sql) takes the
-- range that starts last on or before a date without reading where it ends. One row per range
-- that leaves a gap or overlaps: its currency, start, end and what is wrong.

with

ranges as (

    select
        currency,
        valid_from,
        valid_to,
        lag(valid_to) over (partition by currency order by valid_from, valid_to) as previous_to,
        lead(valid_from) over (partition by currency order by valid_from, valid_to) as next_from
    from {{ ref('int_fx_rates_valid_ranges') }}

)

select
    currency,
    valid_from,
    valid_to,
    case
        when previous_to is null and valid_from != {{ date_literal('1900-01-01') }}
            then 'the first range starts after 1900-01-01'
        when next_from is null and valid_to != {{ date_literal('9999-12-31') }}
            then 'the last range ends before 9999-12-31'
        when valid_to < valid_from then 'the range ends before it starts'
        else 'the next range does not start the day after this one ends'
    end as problem
from ranges
where
    (previous_to is null and valid_from != {{ date_literal('1900-01-01') }})
    or (next_from is null and valid_to != {{ date_literal('9999-12-31') }})
    or valid_to < valid_from
    or (next_from is not null and cast({{ dbt.dateadd('day', -1, 'next_from') }} as date) != valid_to)
