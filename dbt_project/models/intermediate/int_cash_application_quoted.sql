-- Cash application, step 2 (int_payments_matched_to_invoices has the whole rule): the invoices
-- each receipt's remittance text quotes, exactly (`reference`) or one character off
-- (`reference_fuzzy`), before the amounts are settled (int_cash_application_references). Every
-- receipt with a text is read; the references model leaves out those the source or a person
-- applied. A model of its own so no engine plans it together with the settling.
--
-- Incremental by payer and month (macros/incremental_by_key.sql): a receipt is read against
-- invoices and credits dated by its own date only, those of its customer when the payer is
-- known (every customer's when not: the unknown payers are one payer, ''). So the receipts of
-- one payer in one month (`payer_month`) depend on those receipts, the pairs reversed on them,
-- and the payer's invoices and credits dated by the month's end: a run reads again the months
-- with a new or changed receipt, and those from the month of a new or changed invoice or credit
-- on (a backdated one reads every later month of the payer again, today's only the current).

{{ incremental_by_key('payer_month', 'inputs_fingerprint', tests_on_new_rows=true) }}

with

all_payments as (

    select
        *,
        {{ dbt.concat(["payer", "'|'", "cast(payment_month as " ~ dbt.type_string() ~ ")"]) }} as payer_month
    from (
        select
            payment_id,
            customer_id,
            coalesce(customer_id, '') as payer,
            cast({{ dbt.date_trunc('month', 'payment_date') }} as date) as payment_month,
            payment_date,
            amount,
            currency,
            remittance_info
        from {{ ref('int_payments_unioned') }}
        where payment_type = 'payment'
    ) as payments

),

-- each invoice with its number as a reference key and as digits (kept by loads)
invoices as (

    select
        invoice_id,
        invoice_number,
        customer_id,
        invoice_date,
        due_date,
        currency,
        invoice_amount,
        reference_key,
        reference_digits
    from {{ ref('int_invoice_references') }}

),

credits as (

    select
        invoice_id,
        credit_memo_date,
        credit_amount
    from {{ ref('stg_erp__credit_memos') }}
    where invoice_id is not null

),

-- manual applications (int_manual_cash_applications): pairs reversed by hand, whatever applied them
reversed_pairs as (

    select
        payment_id,
        invoice_id
    from {{ ref('int_manual_cash_applications') }}
    where action = 'reverse'

),

-- The fingerprint of a payer's month: its receipts and the pairs reversed on them, and the
-- payer's invoices and credits dated by the month's end (a running sum over the months).
dated_parts as (

    select
        customer_id as payer,
        cast({{ dbt.date_trunc('month', 'invoice_date') }} as date) as part_month,
        {{ row_fingerprint(
            ['invoice_id', 'invoice_number', 'customer_id', 'invoice_date', 'currency', 'invoice_amount']
        ) }} as part
    from invoices
    union all
    select
        invoices.customer_id as payer,
        cast({{ dbt.date_trunc('month', 'credits.credit_memo_date') }} as date) as part_month,
        {{ row_fingerprint(['credits.invoice_id', 'credits.credit_memo_date', 'credits.credit_amount']) }}
    from credits
    inner join invoices on credits.invoice_id = invoices.invoice_id

),

monthly_parts as (

    select
        payer,
        part_month,
        sum(part) as part
    from (
        select * from dated_parts
        union all
        -- the unknown payers may quote any customer's invoice
        select
            '' as payer,
            part_month,
            part
        from dated_parts
        union all
        -- a row in every month a payer has receipts, for the running sum to be read at
        select distinct
            payer,
            payment_month as part_month,
            0 as part
        from all_payments
    ) as parts
    group by payer, part_month

),

dated_until as (

    select
        payer,
        part_month,
        sum(part) over (partition by payer order by part_month rows between unbounded preceding and current row)
            as running_part
    from monthly_parts

),

own_parts as (

    select
        payer_month,
        payer,
        payment_month,
        sum(part) as part
    from (
        select
            payer_month,
            payer,
            payment_month,
            {{ row_fingerprint(
                ['payment_id', 'customer_id', 'payment_date', 'amount', 'currency', 'remittance_info']
            ) }} as part
        from all_payments
        union all
        select
            payments.payer_month,
            payments.payer,
            payments.payment_month,
            {{ row_fingerprint(['reversed_pairs.payment_id', 'reversed_pairs.invoice_id']) }}
        from reversed_pairs
        inner join all_payments as payments on reversed_pairs.payment_id = payments.payment_id
    ) as parts
    group by payer_month, payer, payment_month

),

fingerprints as (

    select
        own_parts.payer_month,
        own_parts.part + dated_until.running_part as inputs_fingerprint
    from own_parts
    inner join dated_until
        on own_parts.payer = dated_until.payer and own_parts.payment_month = dated_until.part_month

),

{% if is_incremental() %}
rebuilt as (

    {{ rebuilt_keys('fingerprints', 'payer_month') }}

),
{% endif %}

payments as (

    select * from all_payments
    {% if is_incremental() %}
    where payer_month in (select rebuilt.payer_month from rebuilt)
    {% endif %}

),

-- 2. Invoice numbers quoted in the remittance text, compared as letters and digits only; a
-- word of digits alone matches the digits of an invoice number (at least six, so amounts and
-- dates do not).
tokens as (

    select distinct
        payment_id,
        {{ reference_key('token') }} as token_key,
        {{ digits_of('token') }} as token_digits
    from (
        select
            payment_id,
            {{ split_to_rows('remittance_info') }} as token
        from payments
        where remittance_info is not null
    ) as words

),

quoted as (

    select
        tokens.payment_id,
        tokens.token_key,
        invoices.invoice_id
    from tokens
    inner join invoices on tokens.token_key = invoices.reference_key

    union

    select
        tokens.payment_id,
        tokens.token_key,
        invoices.invoice_id
    from tokens
    inner join invoices on tokens.token_digits = invoices.reference_digits
    where length(tokens.token_digits) >= 6
        and tokens.token_key = tokens.token_digits

),

exact_references as (

    select distinct
        payments.payment_id,
        quoted.token_key,
        invoices.invoice_id,
        payments.payment_date as applied_date,
        payments.amount as payment_amount,
        case when payments.customer_id is null then 0.90 else 0.99 end as match_confidence,
        'reference' as match_method
    from quoted
    inner join payments on quoted.payment_id = payments.payment_id
    inner join invoices on quoted.invoice_id = invoices.invoice_id
    where invoices.currency = payments.currency
        and invoices.invoice_date <= payments.payment_date
        -- a reference to another customer's invoice is a typo more often than not
        and (payments.customer_id is null or payments.customer_id = invoices.customer_id)
        -- manual applications (int_manual_cash_applications)
        and not exists (
            select 1 from reversed_pairs as r
            where r.payment_id = payments.payment_id and r.invoice_id = invoices.invoice_id
        )

),

-- A receipt quoting one invoice of its customer for an amount that invoice is not owed, while
-- exactly one other invoice of the customer, one character off, is owed exactly that amount:
-- the quote is that invoice mistyped (a typo can hit another real invoice number).
-- The receipts of a known customer quoting exactly one invoice, and what it is owed then.
single_quotes as (

    select
        quoted.payment_id,
        quoted.invoice_id
    from exact_references as quoted
    inner join payments on quoted.payment_id = payments.payment_id
    where payments.customer_id is not null
        and quoted.payment_id in (
            select exact_references.payment_id from exact_references
            group by exact_references.payment_id
            having count(*) = 1
        )

),

quoted_owed as (

    {{ owed_at_payment('single_quotes', 'payments', 'invoices', 'credits') }}

),

-- Only a receipt for an amount its quoted invoice is not owed can be a mistyped quote: the
-- others are taken at their word before any neighbour is looked for.
mispaid_quotes as (

    select
        quoted.payment_id,
        quoted.invoice_id,
        payments.payment_date,
        invoices.customer_id,
        invoices.currency,
        invoices.reference_key
    from quoted_owed as quoted
    inner join payments on quoted.payment_id = payments.payment_id
    inner join invoices on quoted.invoice_id = invoices.invoice_id
    where payments.amount != quoted.owed_amount

),

-- The words left to read as a mistyped invoice number: six digits or more, in the text of a
-- receipt whose customer is known, and no exact quote (another customer's invoice number is no
-- match for this customer: it may be a typo).
unmatched_tokens as (

    select
        tokens.payment_id,
        tokens.token_key,
        payments.customer_id,
        payments.currency,
        payments.payment_date
    from tokens
    inner join payments on tokens.payment_id = payments.payment_id
    where length(tokens.token_digits) >= 6
        and payments.customer_id is not null
        and not exists (
            select 1 from exact_references
            where exact_references.payment_id = tokens.payment_id
                and exact_references.token_key = tokens.token_key
        )

),

-- The quotes and the words, each with the customer's invoices one character off it.
typo_queries as (

    select
        payment_id,
        invoice_id as quoted_invoice_id,
        reference_key as query_key,
        customer_id,
        currency,
        payment_date
    from mispaid_quotes

    union all

    select
        payment_id,
        null as quoted_invoice_id,
        token_key as query_key,
        customer_id,
        currency,
        payment_date
    from unmatched_tokens

),

typo_neighbours as (

    {{ invoices_one_character_off('typo_queries', 'invoices') }}

),

-- The mistyped quotes: the other invoices of the customer one character off the quoted one.
misquoted_candidates as (

    select
        payment_id,
        quoted_invoice_id,
        invoice_id
    from typo_neighbours
    where quoted_invoice_id is not null

),

neighbour_pairs as (

    select distinct
        payment_id,
        invoice_id
    from misquoted_candidates

),

neighbour_owed as (

    {{ owed_at_payment('neighbour_pairs', 'payments', 'invoices', 'credits') }}

),

misquoted as (

    select
        candidates.payment_id,
        candidates.quoted_invoice_id,
        min(candidates.invoice_id) as invoice_id
    from misquoted_candidates as candidates
    inner join payments on candidates.payment_id = payments.payment_id
    inner join neighbour_owed
        on candidates.payment_id = neighbour_owed.payment_id and candidates.invoice_id = neighbour_owed.invoice_id
    where payments.amount = neighbour_owed.owed_amount
    group by candidates.payment_id, candidates.quoted_invoice_id
    having count(*) = 1

),

-- A word that looks like an invoice number but is none: one character off from exactly one
-- invoice of the (known) paying customer is that invoice mistyped.
fuzzy_candidates as (

    select
        payments.payment_id,
        neighbours.query_key as token_key,
        neighbours.invoice_id,
        payments.payment_date as applied_date,
        payments.amount as payment_amount
    from typo_neighbours as neighbours
    inner join payments on neighbours.payment_id = payments.payment_id
    where neighbours.quoted_invoice_id is null
        -- manual applications (int_manual_cash_applications)
        and not exists (
            select 1 from reversed_pairs as r
            where r.payment_id = neighbours.payment_id and r.invoice_id = neighbours.invoice_id
        )

),

fuzzy_references as (

    select
        payment_id,
        min(invoice_id) as invoice_id,
        min(applied_date) as applied_date,
        min(payment_amount) as payment_amount,
        0.85 as match_confidence,
        'reference_fuzzy' as match_method
    from fuzzy_candidates
    group by payment_id, token_key
    having count(distinct invoice_id) = 1

),

reference_candidates as (

    select distinct
        payment_id,
        invoice_id,
        applied_date,
        payment_amount,
        match_confidence,
        match_method
    from exact_references
    where not exists (
            select 1 from misquoted
            where misquoted.payment_id = exact_references.payment_id
                and misquoted.quoted_invoice_id = exact_references.invoice_id
        )
    union
    select
        misquoted.payment_id,
        misquoted.invoice_id,
        payments.payment_date as applied_date,
        payments.amount as payment_amount,
        0.85 as match_confidence,
        'reference_fuzzy' as match_method
    from misquoted
    inner join payments on misquoted.payment_id = payments.payment_id
    union
    select * from fuzzy_references
    where not exists (
            select 1 from exact_references
            where exact_references.payment_id = fuzzy_references.payment_id
                and exact_references.invoice_id = fuzzy_references.invoice_id
        )

),

quoting as (

    select
        candidates.*,
        payments.payer_month
    from reference_candidates as candidates
    inner join payments on candidates.payment_id = payments.payment_id

),

-- A row for each (rebuilt) payer's month without a quote, besides its quotes: with its
-- fingerprint when it has receipts, which keeps the fingerprint (the month would be read again
-- at every run without one); without, when it has none any more: a tombstone
-- (macros/incremental_by_key.sql). Counted by a window, not a second read of the quotes (an
-- engine that inlines the CTE would compute them twice).
with_months as (

    select
        quoting.*,
        fingerprints.inputs_fingerprint
    from quoting
    inner join fingerprints on quoting.payer_month = fingerprints.payer_month
    union all
    select
        null as payment_id,
        null as invoice_id,
        null as applied_date,
        null as payment_amount,
        null as match_confidence,
        null as match_method,
        payer_months.payer_month,
        fingerprints.inputs_fingerprint
    from {{ 'rebuilt' if is_incremental() else 'fingerprints' }} as payer_months
    left join fingerprints on payer_months.payer_month = fingerprints.payer_month

)

select
    payment_id,
    invoice_id,
    applied_date,
    payment_amount,
    match_confidence,
    match_method,
    payer_month,
    inputs_fingerprint,
    -- when: the references rebuild from the first day of each payer's month written since
    {{ built_at() }} as built_at,
    {{ rule_fingerprint() }} as rule_fingerprint
from (
    select
        *,
        count(invoice_id) over (partition by payer_month) as n_quotes
    from with_months
) as counted
where invoice_id is not null or n_quotes = 0
