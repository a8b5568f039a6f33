-- Weekly receipts (fct_receipts_weekly) of the 26 weeks up to the as-of date, weeks ending on it.
select
    week_end_date as week_end,
    receipts_rc::double as receipts_rc
from marts.fct_receipts_weekly
where week_end_date <= $as_of
    and week_end_date > $as_of::date - 182
    and ($as_of::date - week_end_date) % 7 = 0
order by week_end
