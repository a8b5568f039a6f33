-- The latest 13-week cash forecast.
select *
from forecasts.cash_forecast
order by week
