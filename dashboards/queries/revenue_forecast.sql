-- The latest revenue and order forecasts.
select series, week, week_end, model, forecast, lo_80, hi_80
from forecasts.revenue_forecast
order by series, week
