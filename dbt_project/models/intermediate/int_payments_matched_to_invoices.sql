-- Cash application: which invoice each payment pays, for how much, by which method and at
-- what confidence. In order:
--   1. source       the source system applied the payment (confidence 1.00);
--   2. reference    an invoice number of the paying customer appears in the remittance text, in
--                   any format (`INV-2025/0401`, `inv 20250401`: letters and digits compared;
--                   0.99, 0.90 when the payer is unknown);
--      reference_fuzzy  one character off (a typo) from exactly one invoice of the customer, or a
--                   quoted invoice not owed the amount while exactly one invoice one character
--                   off is owed exactly that (0.85);
--   3. amount       what the references leave of a receipt of a known customer is made of the
--                   customer's open items at the payment date: one to three items, or a run of
--                   consecutive items by due date (bounded subset sum over the oldest
--                   `cash_application_max_open_items`). Exact sums first; then sums within the
--                   tolerance (bank fees, short payments, rounding: both
--                   `cash_application_tolerance_rc` in the reporting currency and
--                   `cash_application_tolerance_pct` of the items); fewer items, then older ones,
--                   break ties. Then an overpayment: one of the likeliest items and at most
--                   `cash_application_overpayment_pct` more (the rest stays on account). A best
--                   fit that another fits equally well is applied only when exact (to the
--                   oldest, 0.60); otherwise it is left for review.
--                   Two passes: receipts that lost their items to an earlier receipt try again.
--                   What is still on account is tried again `cash_application_retry_days`
--                   after the payment, against the items open then, and applied on that day
--                   (the second instalment of an invoice a batch paid part of makes the batch
--                   exact). A receipt quoting several invoices and paying less than they owe is
--                   not split by guess: it goes through the amount passes like the rest.
-- Manual applications entered in the Unapplied cash page come first (method 'manual', 1.00), and
-- a receipt applied by hand is left to the person; a pair reversed there is excluded from every
-- method.
-- Whatever is not applied stays unapplied cash (on account) and is suggested for review
-- (int_cash_application_suggestions). Only events dated on or before a payment decide its
-- application, so a past application never changes when later data arrives.

-- The steps are models of their own: int_cash_application_references (1 and 2),
-- int_cash_application_receipts and int_cash_application_pass_1 to _4 (3). This one combines them,
-- incremental by invoice (macros/incremental_by_key.sql): an invoice's rows depend only on what
-- the steps applied to it, its amount and its credits, so a run combines again only the invoices
-- where one of those changed.

{% set passes = range(1, 5) %}
{% if var('cash_application_retry_days') | length > passes | length - 2 %}
{{ exceptions.raise_compiler_error(
    "dbt var cash_application_retry_days: at most " ~ (passes | length - 2) ~ " retries, one model each"
    ~ " (int_cash_application_pass_3 and _4); got " ~ var('cash_application_retry_days')
) }}
{% endif %}

{{ incremental_by_key('invoice_id', 'application_id', tests_on_new_rows=true, records_gone=true) }}

with

invoices as (

    select
        invoice_id,
        invoice_amount
    from {{ ref('stg_erp__invoices') }}

),

credits as (

    select
        invoice_id,
        credit_memo_date,
        credit_amount
    from {{ ref('stg_erp__credit_memos') }}
    where invoice_id is not null

),

all_combined as (

    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        match_confidence,
        applied_amount,
        0 as method_order
    from {{ ref('int_cash_application_references') }}
    where applied_amount > 0
    {% for pass in passes %}
    union all
    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        match_confidence,
        applied_amount,
        {{ pass }} as method_order
    from {{ ref('int_cash_application_pass_' ~ pass) }}
    where invoice_id is not null  -- not a receipt the pass left on account
    {% endfor %}

),

-- What an invoice's rows are combined from: what each step applied to it, its amount and its
-- credits.
fingerprints as (

    select
        invoice_id,
        sum(part) as inputs_fingerprint
    from (
        select
            invoice_id,
            {{ row_fingerprint([
                'payment_id', 'invoice_id', 'applied_date', 'match_method', 'match_confidence', 'applied_amount',
                'method_order',
            ]) }} as part
        from all_combined
        union all
        select
            invoice_id,
            {{ row_fingerprint(['invoice_id', 'invoice_amount']) }}
        from invoices
        where invoice_id in (select all_combined.invoice_id from all_combined)
        union all
        select
            invoice_id,
            {{ row_fingerprint(
                ['invoice_id', 'credit_memo_date', 'credit_amount']
            ) }}
        from credits
        where invoice_id in (select all_combined.invoice_id from all_combined)
    ) as parts
    group by invoice_id

),

{% if is_incremental() %}
rebuilt as (

    {{ rebuilt_keys('fingerprints', 'invoice_id') }}

),
{% endif %}

combined as (

    select * from all_combined
    {% if is_incremental() %}
    where invoice_id in (select rebuilt.invoice_id from rebuilt)
    {% endif %}

),

-- What each invoice is owed at each date an application is dated: amount less credits to date.
net_at_date as (

    select
        dated.invoice_id,
        dated.applied_date,
        min(invoices.invoice_amount) - coalesce(sum(credits.credit_amount), 0) as net_amount
    from (
        select distinct
            invoice_id,
            applied_date
        from combined
    ) as dated
    inner join invoices on dated.invoice_id = invoices.invoice_id
    left join credits
        on dated.invoice_id = credits.invoice_id and dated.applied_date >= credits.credit_memo_date
    group by dated.invoice_id, dated.applied_date

),

combined_with_net as (

    select
        combined.*,
        net_at_date.net_amount
    from combined
    inner join net_at_date
        on combined.invoice_id = net_at_date.invoice_id and combined.applied_date = net_at_date.applied_date

),

-- Across all methods, earlier applications come first and none takes an invoice below zero
-- (two payments for one invoice: the later one stays unapplied cash).
capped_all as (

    select
        payment_id,
        invoice_id,
        applied_date,
        match_method,
        match_confidence,
        method_order,
        min(method_order) over (partition by payment_id, invoice_id) as first_method_order,
        {{ capped_to_open_balance('applied_amount', 'applied_date, method_order, payment_id') }} as applied_amount
    from combined_with_net

),

-- A receipt whose reference paid part of an invoice and whose rest paid more of it by amount
-- is one application, under the first method.
final as (

    select
        payment_id,
        invoice_id,
        min(applied_date) as applied_date,
        max(case when method_order = first_method_order then match_method end) as match_method,
        max(case when method_order = first_method_order then match_confidence end) as match_confidence,
        sum(applied_amount) as applied_amount
    from capped_all
    where applied_amount > 0
    group by payment_id, invoice_id

)

select
    {{ dbt.concat(["final.payment_id", "'|'", "final.invoice_id"]) }} as application_id,
    final.payment_id,
    final.invoice_id,
    final.applied_date,
    cast(final.applied_amount as {{ money_type() }}) as applied_amount,
    final.match_method,
    cast(final.match_confidence as decimal(3, 2)) as match_confidence,
    fingerprints.inputs_fingerprint,
    -- when: the ledger rebuilds the invoices combined again since its own last build
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from final
inner join fingerprints on final.invoice_id = fingerprints.invoice_id
{% if is_incremental() %}
-- a tombstone per rebuilt invoice (macros/incremental_by_key.sql)
union all
select
    null as application_id,
    null as payment_id,
    invoice_id,
    null as applied_date,
    null as applied_amount,
    null as match_method,
    null as match_confidence,
    null as inputs_fingerprint,
    null as built_at,
    null as rule_fingerprint
from rebuilt
{% endif %}
