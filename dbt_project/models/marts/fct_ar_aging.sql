-- Accounts receivable aging: one row per open invoice per as-of date (every month-end and the
-- data's as-of date), with days past due and the aging bucket. Incremental: a run recomputes
-- the as-of dates from the latest month-end already built onward, or from an earlier as-of date
-- whose open items changed since they were aged (a document dated before that month-end, a
-- corrected amount or due date, a cancellation, a manual cash application back to its payment's
-- date); as-of dates that no longer exist (yesterday's "today") are removed after the run. Each
-- recomputed as-of date is replaced whole (an invoice settled since the last run leaves it).

-- On Spark the model is rebuilt whole (partly_replaced_materialization, macros/cross_db.sql).
-- unique_key is a string, not a list: dbt-duckdb then deletes `where as_of_date in (select ...)`;
-- given a list it deletes `using` the new rows joined on as_of_date, which matches every old row
-- of a date once per new row of it (a daily build at scale m: 135 s for that statement).

{{
    config(
        materialized=partly_replaced_materialization(),
        unique_key='as_of_date',
        incremental_strategy='delete+insert',
        meta={
            'tests_on_new_rows': 'built_at',
            'incremental_reads': ['as_of_date', 'balance_fingerprint', 'rule_fingerprint'],
        },
        on_schema_change='sync_all_columns',
        post_hook="{% if is_incremental() %}delete from {{ this }} where as_of_date not in (select as_of_date from {{ ref('int_as_of_dates') }}){% endif %}",
    )
}}

with

-- the open items valid on each as-of date: fct_open_item_balances is their one home (the AR aging
-- page ages any other date from the same rows); each with a fingerprint of the balance row it is
-- aged from (macros/incremental_by_key.sql), so a later run sees which aged rows changed. Not of
-- the day the balance ends: a payment today ends yesterday a balance that was open-ended, which
-- was aged at the same month-ends all the same.
balances as (

    select
        *,
        {{ row_fingerprint([
            'invoice_id', 'customer_id', 'currency', 'invoice_date', 'due_date', 'valid_from',
            'open_balance', 'open_balance_rc',
        ]) }} as balance_fingerprint
    from {{ ref('fct_open_item_balances') }}

),

{% if is_incremental() %}
last_month_end as (

    select coalesce(max(as_of_date), {{ date_literal('1900-01-01') }}) as as_of_date
    from {{ this }}
    where as_of_date = cast({{ dbt.last_day('as_of_date', 'month') }} as date)

),

-- The month-ends before that one each balance row was aged at, and those it holds on now: a run
-- of month-ends, from its first to its last. Where a fingerprint's run differs between the two
-- sides, or is on one side only (a payment, credit or correction dated before that month-end, a
-- cancelled invoice, an invoice dated before it), the earliest month-end either side names is
-- where ageing starts again (at worst one month-end early, never late).
aged_runs as (

    select
        invoice_id,
        balance_fingerprint,
        min(as_of_date) as first_month_end,
        max(as_of_date) as last_month_end
    from {{ this }}
    where as_of_date < (select last_month_end.as_of_date from last_month_end)
    group by invoice_id, balance_fingerprint

),

held_runs as (

    select
        invoice_id,
        balance_fingerprint,
        first_month_end,
        last_month_end
    from (
        select
            invoice_id,
            balance_fingerprint,
            cast({{ dbt.last_day('valid_from', 'month') }} as date) as first_month_end,
            -- the last month-end on or before the day the balance ends, and before the last built
            least(
                case
                    when valid_to = cast({{ dbt.last_day('valid_to', 'month') }} as date) then valid_to
                    else cast({{ dbt.last_day(dbt.dateadd('month', -1, 'valid_to'), 'month') }} as date)
                end,
                (
                    select cast({{ dbt.last_day(dbt.dateadd('month', -1, 'last_month_end.as_of_date'), 'month') }} as date)
                    from last_month_end
                )
            ) as last_month_end
        from balances
    ) as held
    where first_month_end <= last_month_end

),

changed_from as (

    select
        min(
            case
                when aged.invoice_id is null then held.first_month_end
                when held.invoice_id is null then aged.first_month_end
                when aged.first_month_end != held.first_month_end
                    then least(aged.first_month_end, held.first_month_end)
                else least(aged.last_month_end, held.last_month_end)
            end
        ) as as_of_date
    from aged_runs as aged
    full outer join held_runs as held
        on aged.invoice_id = held.invoice_id and aged.balance_fingerprint = held.balance_fingerprint
    where aged.invoice_id is null
        or held.invoice_id is null
        or aged.first_month_end != held.first_month_end
        or aged.last_month_end != held.last_month_end

),
{% endif %}

as_of_dates as (

    select as_of_date from {{ ref('int_as_of_dates') }}
    {% if is_incremental() %}
    where as_of_date >= least(
        (select last_month_end.as_of_date from last_month_end),
        coalesce((select changed_from.as_of_date from changed_from), {{ date_literal('9999-12-31') }})
    )
    {% endif %}

),

aged as (

    select
        as_of_dates.as_of_date,
        balances.invoice_id,
        balances.customer_id,
        balances.currency,
        balances.invoice_date,
        balances.due_date,
        {{ days_between('balances.due_date', 'as_of_dates.as_of_date') }}
            as days_past_due,
        balances.open_balance,
        balances.open_balance_rc,
        balances.balance_fingerprint
    from as_of_dates
    inner join balances
        on as_of_dates.as_of_date between balances.valid_from and balances.valid_to

)

select
    {{ dbt.concat(["cast(as_of_date as " ~ dbt.type_string() ~ ")", "'|'", "invoice_id"]) }} as aging_id,
    as_of_date,
    invoice_id,
    customer_id,
    currency,
    invoice_date,
    due_date,
    days_past_due,
    {{ aging_bucket('days_past_due') }} as aging_bucket,
    {{ aging_bucket_order('days_past_due') }} as aging_bucket_order,
    open_balance,
    open_balance_rc,
    balance_fingerprint,
    -- the as-of dates a run recomputed: their row-level data tests read these rows only
    -- (macros/data_tests_on_new_rows.sql)
    {{ built_at() }} as built_at,
    -- the rule it was aged by: a run finding another rule ages every date again
    -- (macros/incremental_by_key.sql)
    {{ rule_fingerprint() }} as rule_fingerprint
from aged
-- Stored by as-of date, so a query for one date (every dashboard's) reads only that date's row
-- groups: at scale l the aging queries take a third of the time they take on unsorted rows.
order by as_of_date, customer_id
