-- Monthly AR KPIs over complete months only, oldest first: a month still running would read as a
-- drop in every flow (the current month is on the tiles, compared like for like).
select *
from marts.fct_ar_kpis_monthly
where period_end = last_day(month_start)
order by month_start
