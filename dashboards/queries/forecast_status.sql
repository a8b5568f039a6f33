-- Forecasts that fell back or were skipped on this data, and why (forecasting records it).
select
    forecast,
    status,
    method,
    reason
from forecasts.forecast_status
where status <> 'ok'
order by forecast
