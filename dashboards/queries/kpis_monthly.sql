-- Monthly AR KPIs, oldest first; the last month runs to the data's as-of date.
select *
from marts.fct_ar_kpis_monthly
order by month_start
