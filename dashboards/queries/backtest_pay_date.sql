-- Pay-date backtest per origin, all segments together.
select origin_date, method, n_invoices, n_unpaid, mae_days, bias_days
from forecasts.backtest_pay_date
where segment = 'all'
order by origin_date, method
