-- One row per dispute: what is contested, on which invoice, and how long it has been open.

with

disputes as (

    select * from {{ ref('stg_erp__disputes') }}

),

invoices as (

    select
        invoice_id,
        currency,
        invoice_date
    from {{ ref('stg_erp__invoices') }}

),

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

)

select
    disputes.dispute_id,
    disputes.invoice_id,
    disputes.customer_id,
    disputes.reason,
    disputes.dispute_status,
    disputes.resolution,
    disputes.is_open,
    invoices.currency,
    disputes.disputed_amount,
    {{ to_reporting('disputes.disputed_amount', 'rates.rate') }} as disputed_amount_rc,
    disputes.opened_date,
    disputes.resolved_date,
    {{ days_between('disputes.opened_date', 'coalesce(disputes.resolved_date, as_of.as_of_date)') }}
        as days_open
from disputes
cross join as_of
inner join invoices on disputes.invoice_id = invoices.invoice_id
{{ join_fx_rate_as_of('invoices.currency', 'invoices.invoice_date', alias='rates') }}
