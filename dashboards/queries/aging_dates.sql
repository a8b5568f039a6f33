-- Every date the aging can be shown as of, newest first.
select distinct as_of_date
from marts.fct_ar_aging
order by as_of_date desc
