{{ config(meta={'dagster': {'ref': {'name': 'int_fx_rates_valid_ranges'}}}) }}

-- The decimal arithmetic the models rely on gives the exact result on the engine the project
-- runs on (it runs on Spark as on DuckDB). Each case is one found at scale m where Spark's answer
-- differed from DuckDB's until the macro said how to compute it; a row per case that is wrong.
-- 1. A sum × a rate to the cent from the exact product 693.8349999816 (Spark had rounded it to
--    6 places first, 693.835000, then to 693.84).
-- 2. 0.17 is not within 1 % of 16.74 (0.1674; Spark had compared 0.17 with 0.1674 rounded to 0.17).
-- 3. A decimal half rounds away from zero, 22.25 to 22.3 and -5.25 to -5.3 (a double's 22.25
--    had rounded to 22.2 on DuckDB).

with

cases as (

    select
        'to_reporting' as computation,
        {{ to_reporting('cast(501.72 as decimal(38, 2))', 'cast(1.38291278 as decimal(18, 8))') }}
        = cast(693.83 as decimal(18, 2)) as is_exact
    union all
    select
        'at_most_percent_of' as computation,
        not ({{ at_most_percent_of('cast(0.17 as decimal(38, 2))', 'cast(16.74 as decimal(38, 2))', 1) }})
        and {{ at_most_percent_of('cast(0.16 as decimal(38, 2))', 'cast(16.74 as decimal(38, 2))', 1) }}
            as is_exact
    union all
    select
        'round_half_away_from_zero' as computation,
        round(cast(22.25 as decimal(18, 6)), 1) = cast(22.3 as decimal(10, 1))
        and round(cast(-5.25 as decimal(18, 6)), 1) = cast(-5.3 as decimal(10, 1))
            as is_exact

)

select computation
from cases
where not is_exact
