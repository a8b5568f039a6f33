-- The first day a cycle starts (an order, or an invoice without one): where the month picker begins.
select min(cycle_start_date) as first_date
from marts.fct_o2c_cycle_times
