-- fct_invoices as of 2026-03-31, every invoice of the seeded world, worked out by hand.
-- open = invoiced − credited − written off − applied; terms = due − invoice date (all 30 days);
-- days_to_pay = paid − invoice date; days_late = paid − due; days_past_due = 2026-03-31 − due.
--   I1: 1000 − 1000 (P1 2026-02-05) = 0, paid; to pay Jan 10 → Feb 5 = 21 + 5 = 26; late Feb 9 → Feb 5 = −4.
--   I2: 500 − 100 (CM1) − 250 (P2 2026-03-10) = 150, partially paid; past due Feb 19 → Mar 31 = 9 + 31 = 40.
--   I3: 2000 − 2000 (P3 2026-03-20) = 0, paid; to pay Feb 15 → Mar 20 = 13 + 20 = 33; late Mar 17 → Mar 20 = 3.
--   I4: 800 open; past due Apr 4 → Mar 31 = −4.
--   I5: 300 open; past due Apr 30 → Mar 31 = −30.
--   I6: 400 − 400 written off (CM2 2026-03-15) = 0: settled that day, never paid (no paid date).
{{ rows_differ(
    "select invoice_id, invoice_status, is_open, invoice_amount, credited_amount, written_off_amount,
        applied_amount, open_balance, open_balance_rc, first_payment_date, settled_date, paid_date,
        terms_days, days_to_pay, days_late, days_past_due
    from " ~ ref('fct_invoices'),
    "select * from (values
        ('I1', 'paid',           false, 1000.00,   0.00,   0.00, 1000.00,   0.00,   0.00,
            date '2026-02-05', date '2026-02-05', date '2026-02-05', 30, 26,   -4,   null),
        ('I2', 'partially_paid', true,   500.00, 100.00,   0.00,  250.00, 150.00, 150.00,
            date '2026-03-10', null,              null,              30, null, null, 40),
        ('I3', 'paid',           false, 2000.00,   0.00,   0.00, 2000.00,   0.00,   0.00,
            date '2026-03-20', date '2026-03-20', date '2026-03-20', 30, 33,   3,    null),
        ('I4', 'open',           true,   800.00,   0.00,   0.00,    0.00, 800.00, 800.00,
            null,              null,              null,              30, null, null, -4),
        ('I5', 'open',           true,   300.00,   0.00,   0.00,    0.00, 300.00, 300.00,
            null,              null,              null,              30, null, null, -30),
        ('I6', 'written_off',    false,  400.00,   0.00, 400.00,    0.00,   0.00,   0.00,
            null,              date '2026-03-15', null,              30, null, null, null)
    ) as expected (invoice_id, invoice_status, is_open, invoice_amount, credited_amount, written_off_amount,
        applied_amount, open_balance, open_balance_rc, first_payment_date, settled_date, paid_date,
        terms_days, days_to_pay, days_late, days_past_due)"
) }}
