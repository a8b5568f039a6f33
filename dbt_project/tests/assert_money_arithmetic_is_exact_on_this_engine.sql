{{ config(meta={'dagster': {'ref': {'name': 'int_fx_rates_valid_ranges'}}}) }}

-- The decimal arithmetic the models rely on gives the exact result on the engine the project
-- runs on (it runs on Spark as on DuckDB). Each case is one found at scale m where Spark's answer
-- differed from DuckDB's until the macro said how to compute it; a row per case that is wrong.
-- 1. A sum × a rate to the cent from the exact product 693.8349999816 (Spark had rounded it to
--    6 places first, 693.835000, then to 693.84).
-- 2. 0.17 is not within 1 % of 16.74 (0.1674; Spark had compared 0.17 with 0.1674 rounded to 0.17).
-- 3. A decimal half rounds away from zero, 22.25 to 22.3 and -5.25 to -5.3 (a double's 22.25
--    had rounded to 22.2 on DuckDB).
-- 4. The KPI quotients round their exact value: 100 × 29 ÷ 20,000 is 0.145, 0.15 to the cent (the
--    double DuckDB divides decimals into is 0.144999…, which had rounded to 0.14).

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
    union all
    select
        'kpi_quotients' as computation,
        {{ pct_current('cast(20000 as decimal(18, 2))', 'cast(29 as decimal(18, 2))') }} = 0.15
        and {{ days_of_sales('cast(29 as decimal(18, 2))', 'cast(20000 as decimal(18, 2))', 100) }} = 0.15
        and {{ cei_pct(
            'cast(20000 as decimal(18, 2))', 'cast(0 as decimal(18, 2))',
            'cast(19971 as decimal(18, 2))', 'cast(0 as decimal(18, 2))'
        ) }} = 0.15
            as is_exact

)

select computation
from cases
where not is_exact
