-- All money movements from every payment source, with the paying customer resolved (bank
-- statements only know the payer's account) and the amount in the reporting currency at the
-- rate of the payment date. Incremental by loads, by payment (macros/incremental_by_key.sql): a
-- run finds every payment's payer and rate again (joins on the customers, invoices and rates)
-- and writes again only the payments loaded since, those whose payer or rate is now another,
-- and those the sources no longer have; on Spark the model is rebuilt whole.

{{ incremental_by_loads('payment_id', 'built_at', records_gone=true) }}

with

processor as (

    select * from {{ ref('stg_processor__payments') }}

),

bank as (

    select * from {{ ref('stg_bank__payments') }}

),

erp as (

    -- the ERP's own cash receipts and those of export files
    select * from {{ ref('stg_erp__payments') }}

),

unioned as (

    {% for relation in ['processor', 'bank', 'erp'] %}
    select
        payment_id,
        payment_source,
        customer_id,
        payer_name,
        payer_account,
        payment_date,
        amount,
        currency,
        payment_method,
        payment_type,
        is_refund,
        remittance_info,
        original_payment_id,
        invoice_id,
        dlt_load_id
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

-- Only accounts that belong to exactly one customer identify the payer.
customer_accounts as (

    select
        bank_account,
        min(customer_id) as customer_id
    from {{ ref('stg_erp__customers') }}
    where bank_account is not null
    group by bank_account
    having count(*) = 1

),

-- A payer name that is one customer's name (legal form, case and punctuation aside) identifies
-- the payer when the account does not: a new or changed bank account, a bank that sends none.
customer_names as (

    select
        {{ company_key('customer_name') }} as name_key,
        min(customer_id) as customer_id
    from {{ ref('stg_erp__customers') }}
    where customer_name is not null
    group by {{ company_key('customer_name') }}
    having count(*) = 1

),

-- The customer each payer name identifies, found once per name rather than once per payment
-- (a payer pays many times; the name's key is a regular expression's work).
payer_names as (

    select
        distinct_payers.payer_name,
        customer_names.customer_id
    from (
        select distinct payer_name
        from unioned
        where customer_id is null and payer_name is not null
    ) as distinct_payers
    inner join customer_names on {{ company_key('distinct_payers.payer_name') }} = customer_names.name_key

),

-- A receipt recorded against an invoice belongs to that invoice's customer.
invoice_customers as (

    select
        invoice_id,
        customer_id
    from {{ ref('stg_erp__invoices') }}

),

-- Each payment's payer and rate.
resolved as (

    select
        unioned.payment_id,
        unioned.payment_source,
        coalesce(
            unioned.customer_id, customer_accounts.customer_id, invoice_customers.customer_id, payer_names.customer_id
        ) as customer_id,
        case
            when unioned.customer_id is not null then 'source'
            when customer_accounts.customer_id is not null then 'payer_account'
            when invoice_customers.customer_id is not null then 'invoice_reference'
            when payer_names.customer_id is not null then 'payer_name'
        end as customer_match_method,
        fx.rate as fx_rate
    from unioned
    left join customer_accounts
        on unioned.customer_id is null and unioned.payer_account = customer_accounts.bank_account
    left join invoice_customers
        on unioned.customer_id is null and unioned.invoice_id = invoice_customers.invoice_id
    left join payer_names
        on unioned.customer_id is null
        and customer_accounts.customer_id is null
        and invoice_customers.customer_id is null
        and unioned.payer_name = payer_names.payer_name
    {{ join_fx_rate_as_of('unioned.currency', 'unioned.payment_date') }}

),

{% if is_incremental() %}
-- the payments loaded since, those whose payer or rate the model kept is no longer theirs, and
-- those it keeps that the sources no longer have
rebuilt as (

    select payment_id from unioned
    where {{ loaded_since_last_build() }}

    union

    select coalesce(resolved.payment_id, kept.payment_id) as payment_id
    from resolved
    full outer join {{ this }} as kept on resolved.payment_id = kept.payment_id
    where resolved.payment_id is null
        or kept.payment_id is null
        or resolved.customer_id is distinct from kept.customer_id
        or resolved.customer_match_method is distinct from kept.customer_match_method
        or resolved.fx_rate is distinct from kept.fx_rate

),
{% endif %}

payments as (

    select
        unioned.payment_id,
        unioned.payment_source,
        resolved.customer_id,
        resolved.customer_match_method,
        unioned.payer_name,
        unioned.payer_account,
        unioned.payment_date,
        unioned.currency,
        unioned.amount,
        resolved.fx_rate,
        {{ to_reporting("unioned.amount", "resolved.fx_rate") }} as amount_rc,
        -- money in is positive, refunds out negative
        case when unioned.is_refund then -unioned.amount else unioned.amount end as cash_amount,
        case
            when unioned.is_refund then -{{ to_reporting('unioned.amount', 'resolved.fx_rate') }}
            else {{ to_reporting('unioned.amount', 'resolved.fx_rate') }}
        end as cash_amount_rc,
        unioned.payment_method,
        unioned.payment_type,
        unioned.is_refund,
        unioned.remittance_info,
        unioned.original_payment_id,
        unioned.invoice_id,
        {{ built_at() }} as built_at,
        {{ rule_fingerprint() }} as rule_fingerprint
    from unioned
    -- one row each: a source's ids are unique (ingestion keeps one row per primary key), two
    -- sources' may not be (the unique test on payment_id names them)
    inner join resolved
        on unioned.payment_id = resolved.payment_id
        and coalesce(unioned.payment_source, '') = coalesce(resolved.payment_source, '')
    {% if is_incremental() %}
    where unioned.payment_id in (select rebuilt.payment_id from rebuilt)
    {% endif %}

)

select * from payments
{% if is_incremental() %}
-- a tombstone per rebuilt payment (macros/incremental_by_key.sql)
union all
select
    payment_id,
    null as payment_source,
    null as customer_id,
    null as customer_match_method,
    null as payer_name,
    null as payer_account,
    null as payment_date,
    null as currency,
    null as amount,
    null as fx_rate,
    null as amount_rc,
    null as cash_amount,
    null as cash_amount_rc,
    null as payment_method,
    null as payment_type,
    null as is_refund,
    null as remittance_info,
    null as original_payment_id,
    null as invoice_id,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
