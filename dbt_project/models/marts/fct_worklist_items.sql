-- The collections worklist, the one home of its priority: every item open at the data's as-of
-- date that is overdue or due within a week (days past due > -7), with the collector who works
-- it (dim_customers.collector_group: 'unassigned' for customers without one), ranked by what is worth a call today
-- (docs/metrics.md, "Worklist"):
--   recovery likelihood   = the share of the balances in an aging bucket at a month-end that was
--                           paid within worklist_recovery_days (the month-ends of the last year
--                           whose window has passed), never more than a younger bucket's: the
--                           lowest of its own and the younger buckets' rates; the rate of all
--                           buckets when no younger bucket has history, and 1 when nothing was
--                           ever paid (no payment history is not a zero rate)
--   expected recoverable  = open balance (reporting currency) × recovery likelihood
--   urgency               = 0.25 disputed (the dispute, not a call, decides it) · 0.25 a pending
--                           promise (the customer has said when) · 3 a broken promise · 2 due or
--                           slipping into the next aging bucket within worklist_slip_days · 1
--                           otherwise, in that order of precedence
--   priority              = expected recoverable × urgency; priority_rank 1 = first call of the
--                           collector's day, priority_reason says why in words
-- new_since_yesterday says what is new on the list since the previous data day (the latest day
-- before the as-of date with a ledger event: the as-of date of the previous build that brought new
-- data, which is the day before when there is activity every day; after a weekend or a holiday
-- without activity it is the last working day, so nothing that happened in between is missed): a
-- new invoice, a new dispute, a promise broken, an item that became past due, an item that came
-- onto the list because it is now due within a week.
-- Each item also shows the collectors' last action on it and its latest promise to pay with that
-- promise's status (fct_collection_actions, the one home of the kept / broken / pending rule).

{%- set buckets = aging_buckets() %}
{%- set text = dbt.type_string() %}

with

as_of as (

    select as_of_date from {{ ref('int_data_as_of') }}

),

-- The previous data day: the as-of date of the previous build with new data (the day before the
-- as-of date when the ledger has no earlier event).
previous_day as (

    select
        coalesce(
            max(events.effective_date), cast({{ dbt.dateadd('day', -1, 'as_of.as_of_date') }} as date)
        ) as previous_date
    from as_of
    left join {{ ref('int_open_item_events') }} as events on as_of.as_of_date > events.effective_date
    group by as_of.as_of_date

),

aging as (

    select
        aging.as_of_date,
        aging.invoice_id,
        aging.customer_id,
        aging.currency,
        aging.invoice_date,
        aging.due_date,
        aging.days_past_due,
        aging.aging_bucket,
        aging.open_balance,
        aging.open_balance_rc
    from {{ ref('fct_ar_aging') }} as aging
    inner join as_of on aging.as_of_date = as_of.as_of_date
    where aging.days_past_due > -7

),

-- The month-end cohorts the recovery likelihood learns from: open items of the month-ends of
-- the last year whose recovery window has passed by the as-of date.
cohort_items as (

    select
        aging.as_of_date as month_end,
        cast({{ dbt.dateadd('day', var('worklist_recovery_days'), 'aging.as_of_date') }} as date) as window_end,
        aging.invoice_id,
        aging.aging_bucket,
        aging.open_balance_rc
    from {{ ref('fct_ar_aging') }} as aging
    cross join as_of
    where
        aging.as_of_date = cast({{ dbt.last_day('aging.as_of_date', 'month') }} as date)
        and aging.as_of_date < as_of.as_of_date
        and cast({{ dbt.dateadd('day', var('worklist_recovery_days'), 'aging.as_of_date') }} as date)
        <= as_of.as_of_date
        and aging.as_of_date
        > cast({{ dbt.dateadd('day', -365 - var('worklist_recovery_days'), 'as_of.as_of_date') }} as date)

),

cohort_payments as (

    select
        cohort_items.month_end,
        cohort_items.invoice_id,
        -- payments subtract in the ledger; never more than the cohort's balance of the item
        least(sum(-events.amount_rc), max(cohort_items.open_balance_rc)) as paid_rc
    from cohort_items
    inner join {{ ref('int_open_item_events') }} as events
        on
        cohort_items.invoice_id = events.invoice_id
        and events.event_type = 'payment'
        and cohort_items.month_end < events.effective_date
        and cohort_items.window_end >= events.effective_date
    group by cohort_items.month_end, cohort_items.invoice_id

),

bucket_history as (

    select
        cohort_items.aging_bucket,
        sum(cohort_items.open_balance_rc) as cohort_rc,
        sum(coalesce(cohort_payments.paid_rc, 0)) as paid_rc
    from cohort_items
    left join cohort_payments
        on
        cohort_items.month_end = cohort_payments.month_end
        and cohort_items.invoice_id = cohort_payments.invoice_id
    group by cohort_items.aging_bucket

),

all_history as (

    select
        sum(cohort_rc) as cohort_rc,
        sum(paid_rc) as paid_rc
    from bucket_history

),

-- The labels and order of fct_ar_aging, which owns the bucket rule.
buckets as (

    select distinct
        aging_bucket,
        aging_bucket_order
    from {{ ref('fct_ar_aging') }}

),

-- Each bucket's own rate; none when nothing was paid at all (a missing payment history, not
-- evidence that nobody pays).
bucket_rates as (

    select
        buckets.aging_bucket_order,
        -- divided as doubles: Spark would divide decimals to 6 places, DuckDB as doubles
        cast(bucket_history.paid_rc as double) / cast(bucket_history.cohort_rc as double) as paid_share
    from bucket_history
    inner join buckets on bucket_history.aging_bucket = buckets.aging_bucket
    cross join all_history
    where all_history.paid_rc > 0 and bucket_history.cohort_rc > 0

),

-- A balance never gets likelier to be paid as it ages: a bucket's likelihood is the lowest rate
-- of it and the younger buckets, so a bucket without history of its own takes the rate of the
-- younger ones (and a thin, lucky history of old items cannot outrank younger ones).
recovery as (

    select
        buckets.aging_bucket,
        min(bucket_rates.paid_share) as recovery_likelihood
    from buckets
    inner join bucket_rates on buckets.aging_bucket_order >= bucket_rates.aging_bucket_order
    group by buckets.aging_bucket

),

overall_recovery as (

    select cast(paid_rc as double) / cast(nullif(cohort_rc, 0) as double) as recovery_likelihood
    from all_history
    where paid_rc > 0

),

customers as (

    select
        customer_id,
        customer_name,
        collector_group,
        pct_paid_late
    from {{ ref('dim_customers') }}

),

-- open disputes (as fct_invoices.is_disputed): a few percent of invoices; the latest opened
-- gives the reason shown
open_disputes as (

    select
        invoice_id,
        reason as dispute_reason,
        opened_date as dispute_opened_date,
        row_number() over (partition by invoice_id order by opened_date desc, dispute_id desc) as dispute_order
    from {{ ref('fct_disputes') }}
    where is_open

),

last_actions as (

    select
        invoice_id,
        action_type as last_action,
        action_date as last_action_date
    from {{ ref('fct_collection_actions') }}
    where is_last_action_on_invoice

),

latest_promises as (

    select
        invoice_id,
        promised_date,
        promised_amount,
        promise_status
    from {{ ref('fct_collection_actions') }}
    where is_latest_promise

),

items as (

    select
        aging.invoice_id,
        aging.customer_id,
        customers.customer_name,
        customers.collector_group as collector_id,
        aging.as_of_date,
        previous_day.previous_date,
        {{ dbt.datediff('previous_day.previous_date', 'aging.as_of_date', 'day') }}
            as days_since_previous,
        aging.currency,
        aging.invoice_date,
        aging.due_date,
        aging.days_past_due,
        aging.aging_bucket,
        aging.open_balance,
        aging.open_balance_rc,
        open_disputes.invoice_id is not null as is_disputed,
        open_disputes.dispute_reason,
        open_disputes.dispute_opened_date,
        coalesce(customers.pct_paid_late, 0) as pct_paid_late,
        coalesce(recovery.recovery_likelihood, overall_recovery.recovery_likelihood, 1) as recovery_likelihood,
        -- days until the item is due (current) or moves into the next aging bucket, and that bucket
        case
            {%- for bucket in buckets if bucket.max_days_past_due is not none %}
            when aging.days_past_due <= {{ bucket.max_days_past_due }}
                then {{ bucket.max_days_past_due + 1 }} - aging.days_past_due
            {%- endfor %}
        end as days_to_next_bucket,
        case
            {%- for bucket in buckets if bucket.max_days_past_due is not none %}
            when aging.days_past_due <= {{ bucket.max_days_past_due }} then '{{ buckets[loop.index0 + 1].label }}'
            {%- endfor %}
        end as next_aging_bucket,
        last_actions.last_action,
        last_actions.last_action_date,
        latest_promises.promised_date,
        latest_promises.promised_amount,
        latest_promises.promise_status
    from aging
    cross join previous_day
    inner join customers on aging.customer_id = customers.customer_id
    left join open_disputes on aging.invoice_id = open_disputes.invoice_id and open_disputes.dispute_order = 1
    left join recovery on aging.aging_bucket = recovery.aging_bucket
    -- one row or none: the rate of all buckets, for a bucket without younger history
    left join overall_recovery on 1 = 1
    left join last_actions on aging.invoice_id = last_actions.invoice_id
    left join latest_promises on aging.invoice_id = latest_promises.invoice_id

),

urgency as (

    select
        *,
        case
            when is_disputed then 'disputed'
            when promise_status = 'pending' then 'promised'
            when promise_status = 'broken' then 'promise_broken'
            when days_past_due <= 0 then 'due_soon'
            when days_to_next_bucket <= {{ var('worklist_slip_days') }} then 'slipping'
            else 'past_due'
        end as urgency_reason
    from items

),

scored as (

    select
        *,
        case
            when urgency_reason = 'disputed' then 0.25
            when urgency_reason = 'promised' then 0.25
            when urgency_reason = 'promise_broken' then 3
            when urgency_reason = 'due_soon' then 2
            when urgency_reason = 'slipping' then 2
            else 1
        end as urgency,
        -- rounded in decimal: a double's half cent rounds differently from engine to engine
        cast(
            round(open_balance_rc * cast(recovery_likelihood as decimal(18, 10)), 2) as {{ money_type() }}
        ) as expected_recoverable_rc,
        case
            when
                urgency_reason = 'disputed'
                then {{ dbt.concat(["'Disputed: '", "coalesce(dispute_reason, 'no reason given')"]) }}
            when
                urgency_reason = 'promised'
                then {{ dbt.concat(["'Promised for '", "cast(promised_date as " ~ dbt.type_string() ~ ")"]) }}
            when urgency_reason = 'promise_broken'
                then {{ dbt.concat(["'Promise broken on '", "cast(promised_date as " ~ dbt.type_string() ~ ")"]) }}
            when urgency_reason = 'due_soon'
                then case
                        when days_past_due = 0 then 'Due today'
                        when days_past_due = -1 then 'Due tomorrow'
                        else {{ dbt.concat(["'Due in '", "cast(-days_past_due as " ~ text ~ ")", "' days'"]) }}
                    end
            when urgency_reason = 'slipping' then {{ dbt.concat([
                "'Slips into '", "next_aging_bucket", "' in '",
                "cast(days_to_next_bucket as " ~ dbt.type_string() ~ ")",
                "case when days_to_next_bucket = 1 then ' day' else ' days' end",
            ]) }}
            when days_past_due = 1 then '1 day past due'
            else {{ dbt.concat(["cast(days_past_due as " ~ dbt.type_string() ~ ")", "' days past due'"]) }}
        end as priority_reason,
        -- what changed since the previous data day (one reason, the first that applies); a promise
        -- is broken the day after its date, so one for the previous data day broke since then
        case
            when invoice_date > previous_date then 'New invoice'
            when dispute_opened_date > previous_date then 'New dispute'
            when promise_status = 'broken' and promised_date >= previous_date then 'Promise broken'
            when days_past_due between 1 and days_since_previous then 'Became past due'
            -- on the list from 7 days before its due date: was it further out the previous data day?
            when days_past_due - days_since_previous <= -7 then 'Now due within a week'
        end as new_since_yesterday
    from urgency

),

ranked as (

    select
        *,
        cast(expected_recoverable_rc as double) * urgency as priority
    from scored

)

select
    invoice_id,
    customer_id,
    customer_name,
    collector_id,
    as_of_date,
    currency,
    invoice_date,
    due_date,
    days_past_due,
    aging_bucket,
    open_balance,
    open_balance_rc,
    is_disputed,
    dispute_reason,
    pct_paid_late,
    round(recovery_likelihood, 4) as recovery_likelihood,
    expected_recoverable_rc,
    urgency,
    priority,
    row_number() over (
        partition by collector_id order by priority desc, open_balance_rc desc, invoice_id asc
    ) as priority_rank,
    priority_reason,
    new_since_yesterday is not null as is_new_since_yesterday,
    new_since_yesterday,
    last_action,
    last_action_date,
    promised_date,
    promised_amount,
    promise_status
from ranked
order by collector_id asc, priority_rank asc
