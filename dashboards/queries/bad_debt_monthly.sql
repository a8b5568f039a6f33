-- Bad debt by month, oldest first: write-offs, the trailing bad-debt ratio and the allowance.
select *
from marts.fct_bad_debt_monthly
order by month_start
