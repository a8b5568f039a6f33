-- Every day from the first month of activity to the end of the year after the data's as-of
-- date (at most calendar_max_days days).

with

bounds as (

    -- the first order, or the first invoice when the data has no orders (an AR export)
    select
        cast({{ dbt.date_trunc('month', 'min(first_date)') }} as date) as first_day,
        (select as_of.as_of_date from {{ ref('int_data_as_of') }} as as_of) as as_of_date
    from (
        select min(order_date) as first_date from {{ ref('stg_erp__sales_orders') }}
        union all
        select min(invoice_date) from {{ ref('stg_erp__invoices') }}
    ) as firsts

),

numbers as (

    {{ dbt.generate_series(var('calendar_max_days', 7320)) }}

)

select cast({{ dbt.dateadd('day', 'numbers.generated_number - 1', 'bounds.first_day') }} as date) as date_day
from bounds
cross join numbers
where cast({{ dbt.dateadd('day', 'numbers.generated_number - 1', 'bounds.first_day') }} as date)
    <= cast({{ dbt.dateadd('year', 2, dbt.date_trunc('year', 'bounds.as_of_date')) }} as date) - 1
