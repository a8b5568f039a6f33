-- Write-off proposals of the optional policy "write off after N days past due" (the var
-- write_off_after_days_past_due, O2C_WRITE_OFF_AFTER_DAYS_PAST_DUE): the invoices open at the
-- data's as-of date more than N days past due and not in an open dispute, with their open
-- balance. It only proposes: nothing is posted and no balance changes. Policy off (empty var,
-- the default): no rows.

{%- set policy = var('write_off_after_days_past_due', none) %}
{%- set policy_text = (policy | string | trim | lower) if policy is not none else '' %}
{%- set policy_on = policy_text not in ('', 'none', 'null') %}

with

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

aging as (

    select * from {{ ref('fct_ar_aging') }}

),

open_disputes as (

    select distinct invoice_id from {{ ref('stg_erp__disputes') }}
    where is_open

)

select
    aging.as_of_date,
    aging.invoice_id,
    aging.customer_id,
    aging.currency,
    aging.due_date,
    aging.days_past_due,
    aging.aging_bucket,
    cast({{ policy_text | int if policy_on else 'null' }} as integer) as policy_days_past_due,
    aging.open_balance,
    aging.open_balance_rc
from aging
inner join as_of on aging.as_of_date = as_of.as_of_date
left join open_disputes on aging.invoice_id = open_disputes.invoice_id
where open_disputes.invoice_id is null
    {%- if policy_on %}
    and aging.days_past_due > {{ policy_text | int }}
    {%- else %}
    and false
    {%- endif %}
