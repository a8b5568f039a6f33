-- Each invoice as the cash application reads it in a remittance text: its number as a reference
-- key (letters and digits, upper-cased) and as its digits (macros/cross_db.sql), with what the
-- quote joins and the suggestions read of the invoice. A table of its own so that a daily run
-- computes the keys of the invoices loaded since, not of every invoice: two `regexp_replace`
-- over 9.5 M invoice numbers took about 4 s of the quoted invoices' day at l.
-- Incremental by loads, by invoice (macros/incremental_by_key.sql): a run rebuilds the invoices
-- loaded since and removes those taken out of the load; on Spark the model is rebuilt whole.

{{ incremental_by_loads('invoice_id', 'built_at') }}

{% if is_incremental() %}
with

rebuilt as (

    select invoice_id from {{ ref('stg_erp__invoices') }}
    where {{ loaded_since_last_build() }}

    union

    {{ keys_gone('invoice_id', ref('stg_erp__invoices')) }}

)

{% endif %}

select
    invoice_id,
    invoice_number,
    customer_id,
    invoice_date,
    due_date,
    currency,
    invoice_amount,
    {{ reference_key('invoice_number') }} as reference_key,
    {{ digits_of('invoice_number') }} as reference_digits,
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from {{ ref('stg_erp__invoices') }}
{% if is_incremental() %}
where invoice_id in (select rebuilt.invoice_id from rebuilt)
-- a tombstone per rebuilt invoice (macros/incremental_by_key.sql)
union all
select
    invoice_id,
    null as invoice_number,
    null as customer_id,
    null as invoice_date,
    null as due_date,
    null as currency,
    null as invoice_amount,
    null as reference_key,
    null as reference_digits,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
