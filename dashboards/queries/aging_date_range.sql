-- The days the aging can be shown as of: from the first invoice to the data's as-of date.
select
    (select min(invoice_date) from marts.fct_open_item_balances) as first_date,
    (select max(as_of_date) from marts.fct_ar_aging) as last_date
