{{ config(meta={'dagster': {'ref': {'name': 'fct_open_item_events'}}, 'tests_on_new_rows': true}) }}

-- The AR bridge's identity, invoice by invoice: an invoice's events in the reporting currency
-- (fct_open_item_events.amount_rc) add up to its open balance after its last event
-- (fct_open_item_balances, the period that never ends), or to zero when it is settled.
-- One row per invoice where they differ. A run reads the invoices either mart rebuilt since the
-- test last passed (macros/data_tests_on_new_rows.sql).

{% set rebuilt_since_last_pass = key_written_since_last_pass('invoice_id', [
    [ref('fct_open_item_events'), 'built_at'], [ref('fct_open_item_balances'), 'built_at']
]) %}

with

events as (

    select
        invoice_id,
        sum(amount_rc) as events_rc
    from {{ ref('fct_open_item_events') }}
    where {{ rebuilt_since_last_pass }}
    group by invoice_id

),

open_now as (

    select
        invoice_id,
        open_balance_rc
    from {{ ref('fct_open_item_balances') }}
    where valid_to = {{ date_literal('9999-12-31') }} and {{ rebuilt_since_last_pass }}

)

select
    events.invoice_id,
    events.events_rc,
    open_now.open_balance_rc
from events
left join open_now on events.invoice_id = open_now.invoice_id
where events.events_rc != coalesce(open_now.open_balance_rc, 0)
