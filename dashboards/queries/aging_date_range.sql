-- The first day the aging can be shown as of: the first invoice's date (the last is the data's
-- as-of date, queries/data_as_of.sql).
select min(invoice_date) as first_date
from marts.fct_open_item_balances
