-- Every past cash forecast week that has ended, against actual receipts.
select *
from forecasts.cash_forecast_vs_actual
order by origin_date, week
