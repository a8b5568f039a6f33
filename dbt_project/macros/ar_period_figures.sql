{#- The AR flows within each period and the balances at its end, in the reporting currency: credit
    sales (invoices dated in it), cash collected (receipts less refunds dated in it), and open AR
    and its current part (not yet due) on its last day. The one home of these figures over any
    periods: months (fct_ar_monthly), month to date (fct_ar_month_to_date) and weeks
    (fct_ar_kpis_weekly). `periods` names a CTE with one row per `key` and its first and last day
    (`start`, `end`, both included); the result has one row per period, 0 where nothing happened.
    The flows are summed by day before they meet the periods: a range join of every invoice and
    receipt to the periods holding its date was most of the weekly KPIs' time at l. -#}
{% macro ar_period_figures(periods, key, start, end) %}
    select
        periods.{{ key }},
        cast(coalesce(sales.credit_sales_rc, 0) as {{ money_type() }}) as credit_sales_rc,
        cast(coalesce(cash.cash_collected_rc, 0) as {{ money_type() }}) as cash_collected_rc,
        cast(coalesce(balances.ending_ar_rc, 0) as {{ money_type() }}) as ending_ar_rc,
        cast(coalesce(balances.ending_current_ar_rc, 0) as {{ money_type() }}) as ending_current_ar_rc
    from {{ periods }} as periods
    left join (
        select
            periods.{{ key }},
            sum(invoices.invoice_amount_rc) as credit_sales_rc
        from {{ periods }} as periods
        inner join ({{ sales_by_day() }}) as invoices
            on invoices.invoice_date between periods.{{ start }} and periods.{{ end }}
        group by periods.{{ key }}
    ) as sales on periods.{{ key }} = sales.{{ key }}
    left join (
        select
            periods.{{ key }},
            sum(payments.cash_amount_rc) as cash_collected_rc
        from {{ periods }} as periods
        inner join (
            select
                payment_date,
                sum(cash_amount_rc) as cash_amount_rc
            from {{ ref('int_payments_unioned') }}
            group by payment_date
        ) as payments
            on payments.payment_date between periods.{{ start }} and periods.{{ end }}
        group by periods.{{ key }}
    ) as cash on periods.{{ key }} = cash.{{ key }}
    left join (
        select
            periods.{{ key }},
            sum(balances.open_balance_rc) as ending_ar_rc,
            sum(case when balances.due_date >= periods.{{ end }} then balances.open_balance_rc else 0 end)
                as ending_current_ar_rc
        from {{ periods }} as periods
        -- the open items' one home, which carries each item's due date
        inner join {{ ref('fct_open_item_balances') }} as balances
            on periods.{{ end }} between balances.valid_from and balances.valid_to
        group by periods.{{ key }}
    ) as balances on periods.{{ key }} = balances.{{ key }}
{% endmacro %}

{#- Credit sales by day, in the reporting currency: rows (invoice_date, invoice_amount_rc). -#}
{% macro sales_by_day() %}
    select
        invoice_date,
        sum(invoice_amount_rc) as invoice_amount_rc
    from {{ ref('fct_invoices') }}
    group by invoice_date
{% endmacro %}
