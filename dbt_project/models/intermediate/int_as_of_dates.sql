-- The dates aging is computed for: every month-end since the first invoice, plus the data's
-- as-of date ("today").

with

calendar as (

    select date_day from {{ ref('int_calendar') }}

),

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

first_invoice as (

    select min(invoice_date) as first_invoice_date from {{ ref('stg_erp__invoices') }}

)

select distinct dates.as_of_date
from (
    select cast({{ dbt.last_day('calendar.date_day', 'month') }} as date) as as_of_date
    from calendar
    cross join first_invoice
    where calendar.date_day >= first_invoice.first_invoice_date
    union all
    select as_of.as_of_date from as_of
) as dates
where dates.as_of_date <= (select as_of.as_of_date from as_of)
