-- fct_cash_applications: one row per payment applied to an invoice, worked out by hand.
--   P1 quotes INV-0001 (I1 of its customer C1): reference, 0.99, the whole 1000.00.
--   P2 quotes INV-0002 (I2, owed 500 − 100 = 400): reference, 0.99, all of its 250.00.
--   P3 was applied by the ERP (payment_applications A1): source, 1.00, 2000.00.
--   P4 (123.45) quotes nothing and is no sum of C2's open items (I4 800): no row, on account.
{{ rows_differ(
    "select payment_id, invoice_id, customer_id, payment_source, match_method, match_confidence,
        applied_amount, applied_amount_rc, applied_date
    from " ~ ref('fct_cash_applications'),
    "select * from (values
        ('P1', 'I1', 'C1', 'erp', 'reference', 0.99, 1000.00, 1000.00, date '2026-02-05'),
        ('P2', 'I2', 'C1', 'erp', 'reference', 0.99,  250.00,  250.00, date '2026-03-10'),
        ('P3', 'I3', 'C2', 'erp', 'source',    1.00, 2000.00, 2000.00, date '2026-03-20')
    ) as expected (payment_id, invoice_id, customer_id, payment_source, match_method, match_confidence,
        applied_amount, applied_amount_rc, applied_date)"
) }}
