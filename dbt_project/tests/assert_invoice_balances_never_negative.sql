{{ config(meta={'dagster': {'ref': {'name': 'int_open_item_events'}}, 'tests_on_new_rows': true}) }}

-- No invoice is ever owed less than nothing, at any date: overpayments stay unapplied cash and
-- excess credits stay on account. Invoice by invoice: a run reads the invoices the ledger
-- rebuilt since the test last passed (macros/data_tests_on_new_rows.sql).

select
    invoice_id,
    effective_date,
    balance
from (
    select
        invoice_id,
        effective_date,
        sum(amount) over (partition by invoice_id order by effective_date rows unbounded preceding) as balance
    from (
        select
            invoice_id,
            effective_date,
            sum(amount) as amount
        from {{ ref('int_open_item_events') }}
        where {{ key_written_since_last_pass('invoice_id', [[ref('int_open_item_events'), 'built_at']]) }}
        group by invoice_id, effective_date
    ) as daily
) as running
where balance < 0
