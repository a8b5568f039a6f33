-- The data's as-of date: the newest aging snapshot (the latest activity in any source).
select max(as_of_date) as as_of_date
from marts.fct_ar_aging
