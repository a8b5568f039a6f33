-- One row per invoice: amounts, what happened to them, and its state as of the data's as-of date.

with

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

settlements as (

    select * from {{ ref('int_invoice_settlements') }}

),

open_disputes as (

    select distinct invoice_id from {{ ref('stg_erp__disputes') }}
    where is_open

),

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

)

select
    -- ids
    invoices.invoice_id,
    invoices.invoice_number,
    invoices.customer_id,
    invoices.order_id,
    invoices.shipment_id,
    -- attributes
    invoices.source_system,
    invoices.currency,
    invoices.payment_terms_code,
    case
        when settlements.open_balance > 0 and open_disputes.invoice_id is not null then 'disputed'
        when settlements.open_balance > 0 and settlements.applied_amount > 0 then 'partially_paid'
        when settlements.open_balance > 0 then 'open'
        when settlements.written_off_amount > 0 then 'written_off'
        when settlements.applied_amount > 0 then 'paid'
        else 'credited'
    end as invoice_status,
    settlements.open_balance > 0 as is_open,
    open_disputes.invoice_id is not null as is_disputed,
    -- amounts (transaction currency)
    settlements.invoiced_amount as invoice_amount,
    settlements.credited_amount,
    settlements.written_off_amount,
    settlements.applied_amount,
    settlements.open_balance,
    -- amounts (reporting currency, invoice-date rate)
    settlements.invoiced_amount_rc as invoice_amount_rc,
    settlements.credited_amount_rc,
    settlements.written_off_amount_rc,
    settlements.applied_amount_rc,
    settlements.open_balance_rc,
    -- dates
    invoices.invoice_date,
    invoices.due_date,
    settlements.first_payment_date,
    settlements.last_payment_date,
    settlements.settled_date,
    settlements.paid_date,
    -- durations (days)
    {{ days_between('invoices.invoice_date', 'invoices.due_date') }}
        as terms_days,
    {{ days_between('invoices.invoice_date', 'settlements.paid_date') }}
        as days_to_pay,
    {{ days_between('invoices.due_date', 'settlements.paid_date') }}
        as days_late,
    case
        when settlements.open_balance > 0 then {{ days_between('invoices.due_date', 'as_of.as_of_date') }}
    end as days_past_due
from invoices
inner join settlements on invoices.invoice_id = settlements.invoice_id
left join open_disputes on invoices.invoice_id = open_disputes.invoice_id
cross join as_of
