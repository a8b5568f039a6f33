-- Backtest accuracy pooled over origins.
select evaluation, method, metric, value, n_origins
from forecasts.backtest_summary
order by evaluation, metric, value
