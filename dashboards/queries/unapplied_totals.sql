-- Unapplied cash by status ('on account': customer known; 'unidentified'): receipts, amount in
-- the reporting currency, and the oldest, as of the data's as-of date.
select
    status,
    count(*) as receipts,
    sum(unapplied_amount_rc)::double as unapplied_rc,
    max(days_unapplied) as oldest_days
from marts.fct_unapplied_cash
group by status
order by status
