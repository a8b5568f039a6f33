-- fct_ar_kpis_monthly for March 2026, worked out by hand (formulas in docs/metrics.md).
-- Credit sales: Jan I1 1000 + I2 500 + I6 400 = 1900; Feb I3 2000; Mar I4 800 + I5 300 = 1100.
-- Ending AR Mar 31 = I2 150 + I4 800 + I5 300 = 1250; current (due ≥ Mar 31) = 800 + 300 = 1100;
-- overdue = 150. Beginning AR (Feb 28) = I2 400 + I3 2000 + I6 400 = 2800.
-- Cash collected in March = P2 250 + P3 2000 + P4 123.45 = 2373.45; unapplied (on account) = P4 123.45.
-- Window of 3 months: sales 1900 + 2000 + 1100 = 5000 over 31 + 28 + 31 = 90 days.
--   pct_current   = 100 × 1100 / 1250 = 88.00
--   dso_simple    = 1250 / 5000 × 90 = 22.50
--   bpdso         = 1100 / 5000 × 90 = 19.80;  add_days = 150 / 5000 × 90 = 2.70
--   dso_net       = (1250 − 123.45) / 5000 × 90 = 1126.55 × 90 / 5000 = 20.2779 → 20.28
--   dso_countback = March's 1100 < 1250, so all 31 days of March, then (1250 − 1100) / 2000 of
--                   February's 28 days: 31 + 2.1 = 33.10
--   cei           = 100 × (2800 + 1100 − 1250) / (2800 + 1100 − 1100) = 100 × 2650 / 2800 = 94.64
--   weighted days to pay / late: paid in March only I3 (2000, 33 days, 3 late) → 33.00 / 3.00
--   cei_3m and ar_turnover need the AR of 3 and 12 months before, which the world lacks: null.
{{ rows_differ(
    "select month_start, days_in_period, open_ar_rc, current_ar_rc, overdue_ar_rc, beginning_ar_rc,
        credit_sales_rc, cash_collected_rc, unapplied_on_account_rc, open_ar_net_rc, pct_current,
        dso_simple, bpdso, add_days, dso_net, dso_countback, cei, cei_3m, ar_turnover,
        weighted_days_to_pay, weighted_days_late
    from " ~ ref('fct_ar_kpis_monthly') ~ " where month_start = date '2026-03-01'",
    "select * from (values
        (date '2026-03-01', 31, 1250.00, 1100.00, 150.00, 2800.00, 1100.00, 2373.45, 123.45, 1126.55,
            88.00, 22.50, 19.80, 2.70, 20.28, 33.10, 94.64, null, null, 33.00, 3.00)
    ) as expected (month_start, days_in_period, open_ar_rc, current_ar_rc, overdue_ar_rc, beginning_ar_rc,
        credit_sales_rc, cash_collected_rc, unapplied_on_account_rc, open_ar_net_rc, pct_current,
        dso_simple, bpdso, add_days, dso_net, dso_countback, cei, cei_3m, ar_turnover,
        weighted_days_to_pay, weighted_days_late)"
) }}
