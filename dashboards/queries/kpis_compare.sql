-- Month to date and the same days of the previous month (fct_ar_month_to_date), older first:
-- what the flow and CEI tiles compare.
select *
from marts.fct_ar_month_to_date
order by period_order
