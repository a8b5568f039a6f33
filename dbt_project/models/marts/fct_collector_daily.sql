-- Each collector's day in figures, the one home of the totals the collector's daily email and the
-- worklist page show: one row per collector group (dim_customers.collector_group, 'unassigned'
-- for customers without a collector) at the data's as-of date.
--   open / past-due AR  = the open balances (reporting currency) of the group's customers at the
--                         as-of date (fct_ar_aging), past due = days past due > 0
--   worklist figures    = counts and sums over the group's fct_worklist_items (items, their open
--                         balance, promises on record, broken promises, what is new since yesterday
--                         by reason)
-- Every group that owns a customer has a row, with zeros where it has nothing open.

{%- set money = money_type() %}

with

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

customers as (

    select
        customer_id,
        collector_group,
        collector_group_name,
        collector_email,
        is_unassigned
    from {{ ref('dim_customers') }}

),

collectors as (

    select
        collector_group,
        max(collector_group_name) as collector_name,
        max(collector_email) as collector_email,
        {{ dbt.bool_or('is_unassigned') }} as is_unassigned,
        count(*) as n_customers
    from customers
    group by collector_group

),

ar as (

    select
        customers.collector_group,
        sum(aging.open_balance_rc) as open_ar_rc,
        sum(case when aging.days_past_due > 0 then aging.open_balance_rc else 0 end) as past_due_ar_rc
    from {{ ref('fct_ar_aging') }} as aging
    inner join as_of on aging.as_of_date = as_of.as_of_date
    inner join customers on aging.customer_id = customers.customer_id
    group by customers.collector_group

),

worklist as (

    select
        collector_id as collector_group,
        count(*) as worklist_items,
        sum(open_balance_rc) as worklist_open_rc,
        count(case when promised_date is not null then 1 end) as promises_on_record,
        count(case when promise_status = 'broken' then 1 end) as broken_promises,
        sum(case when promise_status = 'broken' then open_balance_rc else 0 end) as broken_promises_rc,
        count(case when is_new_since_yesterday then 1 end) as new_since_yesterday,
        count(case when new_since_yesterday = 'New invoice' then 1 end) as new_invoices,
        count(case when new_since_yesterday = 'New dispute' then 1 end) as new_disputes,
        count(case when new_since_yesterday = 'Promise broken' then 1 end) as newly_broken_promises,
        count(case when new_since_yesterday = 'Became past due' then 1 end) as became_past_due,
        count(case when new_since_yesterday = 'Now due within a week' then 1 end) as now_due_within_a_week
    from {{ ref('fct_worklist_items') }}
    group by collector_id

)

select
    as_of.as_of_date,
    collectors.collector_group as collector_id,
    collectors.collector_name,
    collectors.collector_email,
    collectors.is_unassigned,
    collectors.n_customers,
    -- amounts (reporting currency)
    cast(coalesce(ar.open_ar_rc, 0) as {{ money }}) as open_ar_rc,
    cast(coalesce(ar.past_due_ar_rc, 0) as {{ money }}) as past_due_ar_rc,
    cast(coalesce(worklist.worklist_open_rc, 0) as {{ money }}) as worklist_open_rc,
    cast(coalesce(worklist.broken_promises_rc, 0) as {{ money }}) as broken_promises_rc,
    -- counts
    coalesce(worklist.worklist_items, 0) as worklist_items,
    coalesce(worklist.promises_on_record, 0) as promises_on_record,
    coalesce(worklist.broken_promises, 0) as broken_promises,
    coalesce(worklist.new_since_yesterday, 0) as new_since_yesterday,
    coalesce(worklist.new_invoices, 0) as new_invoices,
    coalesce(worklist.new_disputes, 0) as new_disputes,
    coalesce(worklist.newly_broken_promises, 0) as newly_broken_promises,
    coalesce(worklist.became_past_due, 0) as became_past_due,
    coalesce(worklist.now_due_within_a_week, 0) as now_due_within_a_week
from collectors
cross join as_of
left join ar on collectors.collector_group = ar.collector_group
left join worklist on collectors.collector_group = worklist.collector_group
