-- Weekly cash backtest: WAPE per origin and method.
select
    origin_date,
    method,
    100 * sum(abs(forecast_rc - actual_rc)) / nullif(sum(actual_rc), 0) as wape_pct
from forecasts.backtest_cash_weekly
group by all
order by origin_date, method
