-- All money movements from every payment source, with the paying customer resolved (bank
-- statements only know the payer's account) and the amount in the reporting currency at the
-- rate of the payment date.

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
        invoice_id
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

-- A receipt recorded against an invoice belongs to that invoice's customer.
invoice_customers as (

    select
        invoice_id,
        customer_id
    from {{ ref('stg_erp__invoices') }}

)

select
    unioned.payment_id,
    unioned.payment_source,
    coalesce(
        unioned.customer_id, customer_accounts.customer_id, invoice_customers.customer_id, customer_names.customer_id
    ) as customer_id,
    case
        when unioned.customer_id is not null then 'source'
        when customer_accounts.customer_id is not null then 'payer_account'
        when invoice_customers.customer_id is not null then 'invoice_reference'
        when customer_names.customer_id is not null then 'payer_name'
    end as customer_match_method,
    unioned.payer_name,
    unioned.payer_account,
    unioned.payment_date,
    unioned.currency,
    unioned.amount,
    fx.rate as fx_rate,
    {{ to_reporting("unioned.amount", "fx.rate") }} as amount_rc,
    -- money in is positive, refunds out negative
    case when unioned.is_refund then -unioned.amount else unioned.amount end as cash_amount,
    case
        when unioned.is_refund then -{{ to_reporting('unioned.amount', 'fx.rate') }}
        else {{ to_reporting('unioned.amount', 'fx.rate') }}
    end as cash_amount_rc,
    unioned.payment_method,
    unioned.payment_type,
    unioned.is_refund,
    unioned.remittance_info,
    unioned.original_payment_id,
    unioned.invoice_id
from unioned
left join customer_accounts
    on unioned.customer_id is null and unioned.payer_account = customer_accounts.bank_account
left join invoice_customers
    on unioned.customer_id is null and unioned.invoice_id = invoice_customers.invoice_id
left join customer_names
    on unioned.customer_id is null
    and customer_accounts.customer_id is null
    and invoice_customers.customer_id is null
    and {{ company_key('unioned.payer_name') }} = customer_names.name_key
{{ join_fx_rate_as_of('unioned.currency', 'unioned.payment_date') }}
