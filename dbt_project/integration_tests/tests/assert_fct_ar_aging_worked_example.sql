-- fct_ar_aging: the open items at each month-end (Jan, Feb, Mar 2026; Mar 31 is also the data's
-- as-of date), worked out by hand. days past due = as-of date − due date; bucket: ≤ 0 current,
-- 1-30, 31-60, ... An invoice is open on a date when its events up to that date leave a balance.
--   2026-01-31: I1 1000 (due Feb 9: −9), I2 500 (due Feb 19: −19), I6 400 (due Feb 4: −4): all current.
--   2026-02-28: I1 paid Feb 5, gone. I2 500 − 100 (CM1 Feb 1) = 400, Feb 19 → Feb 28 = 9: 1-30;
--               I3 2000, due Mar 17: −17, current; I6 400, Feb 4 → Feb 28 = 24: 1-30.
--   2026-03-31: I2 400 − 250 (P2 Mar 10) = 150, Feb 19 → Mar 31 = 9 + 31 = 40: 31-60;
--               I3 paid Mar 20 and I6 written off Mar 15, gone; I4 800 (due Apr 4: −4) and
--               I5 300 (due Apr 30: −30) current.
{{ rows_differ(
    "select as_of_date, invoice_id, customer_id, days_past_due, aging_bucket, open_balance, open_balance_rc
    from " ~ ref('fct_ar_aging'),
    "select * from (values
        (date '2026-01-31', 'I1', 'C1',  -9, 'current', 1000.00, 1000.00),
        (date '2026-01-31', 'I2', 'C1', -19, 'current',  500.00,  500.00),
        (date '2026-01-31', 'I6', 'C2',  -4, 'current',  400.00,  400.00),
        (date '2026-02-28', 'I2', 'C1',   9, '1-30',     400.00,  400.00),
        (date '2026-02-28', 'I3', 'C2', -17, 'current', 2000.00, 2000.00),
        (date '2026-02-28', 'I6', 'C2',  24, '1-30',     400.00,  400.00),
        (date '2026-03-31', 'I2', 'C1',  40, '31-60',    150.00,  150.00),
        (date '2026-03-31', 'I4', 'C2',  -4, 'current',  800.00,  800.00),
        (date '2026-03-31', 'I5', 'C1', -30, 'current',  300.00,  300.00)
    ) as expected (as_of_date, invoice_id, customer_id, days_past_due, aging_bucket, open_balance, open_balance_rc)"
) }}
