-- Each customer's open AR at the data's as-of date against seven days earlier (the ends of the
-- last two weeks of fct_ar_kpis_weekly), in the reporting currency: the CFO digest's "top movers".
-- One row per customer with open AR at either date; a customer without any at both is not a mover.

with

as_of as (

    select
        as_of_date,
        cast({{ dbt.dateadd('day', -7, 'as_of_date') }} as date) as week_ago_date
    from {{ ref('int_data_as_of') }}

),

invoices as (

    select
        invoice_id,
        customer_id
    from {{ ref('fct_invoices') }}

),

balances as (

    select
        invoices.customer_id,
        sum(
            case
                when as_of.as_of_date between intervals.valid_from and intervals.valid_to
                    then intervals.open_balance_rc
            end
        ) as open_ar_rc,
        sum(
            case
                when as_of.week_ago_date between intervals.valid_from and intervals.valid_to
                    then intervals.open_balance_rc
            end
        ) as week_ago_open_ar_rc
    from {{ ref('int_invoice_balance_intervals') }} as intervals
    cross join as_of
    inner join invoices on intervals.invoice_id = invoices.invoice_id
    where as_of.as_of_date between intervals.valid_from and intervals.valid_to
        or as_of.week_ago_date between intervals.valid_from and intervals.valid_to
    group by invoices.customer_id

)

select
    balances.customer_id,
    customers.customer_name,
    as_of.week_ago_date,
    as_of.as_of_date,
    cast(coalesce(balances.week_ago_open_ar_rc, 0) as {{ money_type() }}) as week_ago_open_ar_rc,
    cast(coalesce(balances.open_ar_rc, 0) as {{ money_type() }}) as open_ar_rc,
    cast(coalesce(balances.open_ar_rc, 0) - coalesce(balances.week_ago_open_ar_rc, 0) as {{ money_type() }})
        as change_rc
from balances
cross join as_of
left join {{ ref('dim_customers') }} as customers on balances.customer_id = customers.customer_id
