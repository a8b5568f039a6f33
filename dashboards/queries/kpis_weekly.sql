-- Weekly AR KPIs (fct_ar_kpis_weekly), oldest first: complete weeks of seven days, the latest ending on
-- the data's as-of date.
select *
from marts.fct_ar_kpis_weekly
order by week_end_date
