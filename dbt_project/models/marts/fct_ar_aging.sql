-- Accounts receivable aging: one row per open invoice per as-of date (every month-end and the
-- data's as-of date), with days past due and the aging bucket. Incremental: a run recomputes
-- the as-of dates from the latest month-end already built onward; as-of dates that no longer
-- exist (yesterday's "today") are removed after the run. Each recomputed as-of date is replaced
-- whole (an invoice settled since the last run leaves it). A manual cash application or reversal
-- effective in the current month (Unapplied cash page) changes what its payment applied back to
-- the payment date: the run recomputes from that date (int_manual_cash_applications).

-- On Spark the model is rebuilt whole (partly_replaced_materialization, macros/cross_db.sql).
-- unique_key is a string, not a list: dbt-duckdb then deletes `where as_of_date in (select ...)`;
-- given a list it deletes `using` the new rows joined on as_of_date, which matches every old row
-- of a date once per new row of it (a daily build at scale m: 135 s for that statement).

-- depends_on: {{ ref('int_manual_cash_applications') }}
-- depends_on: {{ ref('int_payments_unioned') }}

{{
    config(
        materialized=partly_replaced_materialization(),
        unique_key='as_of_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{% if is_incremental() %}delete from {{ this }} where as_of_date not in (select as_of_date from {{ ref('int_as_of_dates') }}){% endif %}",
    )
}}

with

as_of_dates as (

    select as_of_date from {{ ref('int_as_of_dates') }}
    {% if is_incremental() %}
    where as_of_date >= least(
        (
            select coalesce(max(as_of_date), {{ date_literal('1900-01-01') }})
            from {{ this }}
            where as_of_date = cast({{ dbt.last_day('as_of_date', 'month') }} as date)
        ),
        -- manual applications (int_manual_cash_applications) effective since that month-end
        coalesce((
            select min(payments.payment_date)
            from {{ ref('int_manual_cash_applications') }} as manual
            inner join {{ ref('int_payments_unioned') }} as payments on manual.payment_id = payments.payment_id
            where manual.applied_date >= (
                select coalesce(max(as_of_date), {{ date_literal('1900-01-01') }})
                from {{ this }}
                where as_of_date = cast({{ dbt.last_day('as_of_date', 'month') }} as date)
            )
        ), {{ date_literal('9999-12-31') }})
    )
    {% endif %}

),

-- the open items valid on each as-of date: fct_open_item_balances is their one home (the AR aging
-- page ages any other date from the same rows)
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
        balances.open_balance_rc
    from as_of_dates
    inner join {{ ref('fct_open_item_balances') }} as balances
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
    open_balance_rc
from aged
-- Stored by as-of date, so a query for one date (every dashboard's) reads only that date's row
-- groups: at scale l the aging queries take a third of the time they take on unsorted rows.
order by as_of_date, customer_id
