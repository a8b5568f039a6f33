-- Monthly AR KPIs in the reporting currency (conventions in docs/metrics.md):
--   simple DSO   = ending AR ÷ credit sales of the trailing dso_window_months × their days
--   countback    = walk back from the month, exhausting ending AR with each month's sales
--   BPDSO        = ending current AR ÷ the same sales × the same days;  ADD = DSO − BPDSO
--   CEI (N = 1)  = (beginning AR + sales − ending AR) ÷ (beginning AR + sales − ending current AR)
--   CEI (N = 3)  = the same over the trailing quarter, with sales ÷ 3
--   AR turnover  = trailing turnover_window_months sales ÷ average AR (begin and end of window)
-- Every KPI above uses gross AR (open invoices). Net AR = gross AR − unapplied cash on account
-- (identified customers) is published beside it, with net DSO = net AR ÷ the same sales × days.

with

monthly as (

    select
        *,
        row_number() over (order by month_start) as month_index
    from {{ ref('fct_ar_monthly') }}

),

dso_window as (

    select
        m.month_start,
        sum(w.credit_sales_rc) as window_sales_rc,
        sum(w.days_in_period) as window_days
    from monthly as m
    inner join monthly as w
        on w.month_index between m.month_index - {{ var('dso_window_months') - 1 }} and m.month_index
    group by m.month_start

),

turnover_window as (

    select
        m.month_start,
        sum(w.credit_sales_rc) as turnover_sales_rc,
        sum(w.days_in_period) as turnover_days
    from monthly as m
    inner join monthly as w
        on w.month_index between m.month_index - {{ var('turnover_window_months') - 1 }} and m.month_index
    group by m.month_start

),

quarter_window as (

    select
        m.month_start,
        sum(w.credit_sales_rc) as quarter_sales_rc
    from monthly as m
    inner join monthly as w on w.month_index between m.month_index - 2 and m.month_index
    group by m.month_start

),

-- Countback: each month paired with itself and the months before it, newest first.
countback_steps as (

    select
        m.month_start,
        m.ending_ar_rc,
        k.month_index as k_index,
        k.credit_sales_rc as k_sales,
        k.days_in_period as k_days,
        sum(k.credit_sales_rc) over (
            partition by m.month_start order by k.month_index desc rows unbounded preceding
        ) as sales_through_k,
        sum(k.days_in_period) over (
            partition by m.month_start order by k.month_index desc rows unbounded preceding
        ) as days_through_k
    from monthly as m
    inner join monthly as k
        on m.month_index >= k.month_index
        and k.month_index > m.month_index - {{ var('countback_max_months') }}

),

-- The month in which the AR is exhausted: the newest one whose cumulative sales reach it.
countback as (

    select
        month_start,
        (days_through_k - k_days)
        + {{ rounded_quotient('(ending_ar_rc - (sales_through_k - k_sales)) * k_days', 'k_sales', 6) }}
            as countback_dso
    from (
        select
            *,
            row_number() over (partition by month_start order by k_index desc) as step
        from countback_steps
        where sales_through_k >= ending_ar_rc and k_sales > 0
    ) as exhausted
    where step = 1

),

with_previous as (

    select
        monthly.*,
        lag(monthly.ending_ar_rc) over (order by monthly.month_index) as beginning_ar_rc,
        lag(monthly.ending_ar_rc, 3) over (order by monthly.month_index) as quarter_beginning_ar_rc,
        lag(monthly.ending_ar_rc, {{ var('turnover_window_months') }}) over (order by monthly.month_index)
            as turnover_beginning_ar_rc
    from monthly

)

select
    m.month_start,
    m.period_end,
    m.days_in_period,
    -- balances and flows
    m.ending_ar_rc as open_ar_rc,
    m.ending_current_ar_rc as current_ar_rc,
    m.ending_ar_rc - m.ending_current_ar_rc as overdue_ar_rc,
    m.unapplied_cash_rc,
    m.unapplied_on_account_rc,
    cast(m.ending_ar_rc - coalesce(m.unapplied_on_account_rc, 0) as {{ money_type() }}) as open_ar_net_rc,
    m.beginning_ar_rc,
    m.credit_sales_rc,
    m.cash_collected_rc,
    -- KPIs
    {{ pct_current('m.ending_ar_rc', 'm.ending_current_ar_rc') }} as pct_current,
    {{ days_of_sales('m.ending_ar_rc', 'd.window_sales_rc', 'd.window_days') }} as dso_simple,
    cast(round(case when m.ending_ar_rc <= 0 then 0 else c.countback_dso end, 2) as double) as dso_countback,
    {{ days_of_sales('m.ending_current_ar_rc', 'd.window_sales_rc', 'd.window_days') }} as bpdso,
    {{ days_of_sales('(m.ending_ar_rc - m.ending_current_ar_rc)', 'd.window_sales_rc', 'd.window_days') }} as add_days,
    {{ days_of_sales(
        '(m.ending_ar_rc - coalesce(m.unapplied_on_account_rc, 0))', 'd.window_sales_rc', 'd.window_days'
    ) }} as dso_net,
    {{ cei_pct('m.beginning_ar_rc', 'm.credit_sales_rc', 'm.ending_ar_rc', 'm.ending_current_ar_rc') }} as cei,
    {{ percent_of(
        '3 * m.quarter_beginning_ar_rc + q.quarter_sales_rc - 3 * m.ending_ar_rc',
        '3 * m.quarter_beginning_ar_rc + q.quarter_sales_rc - 3 * m.ending_current_ar_rc',
        2
    ) }} as cei_3m,
    {{ rounded_ratio('2 * t.turnover_sales_rc', 'm.turnover_beginning_ar_rc + m.ending_ar_rc', 2) }} as ar_turnover,
    -- days ÷ turnover, i.e. days × average AR ÷ sales
    {{ rounded_ratio(
        't.turnover_days * nullif(m.turnover_beginning_ar_rc + m.ending_ar_rc, 0)', '2 * t.turnover_sales_rc', 1
    ) }} as days_to_collect,
    {{ rounded_ratio('m.amount_days_to_pay_rc', 'm.paid_invoice_amount_rc', 2) }} as weighted_days_to_pay,
    {{ rounded_ratio('m.amount_days_late_rc', 'm.paid_invoice_amount_rc', 2) }} as weighted_days_late
from with_previous as m
inner join dso_window as d on m.month_start = d.month_start
inner join turnover_window as t on m.month_start = t.month_start
inner join quarter_window as q on m.month_start = q.month_start
left join countback as c on m.month_start = c.month_start
