-- The expected-credit-loss allowance by aging bucket at the data's as-of date (provision matrix).
select
    aging_bucket,
    aging_bucket_order,
    open_balance_rc::double as open_balance_rc,
    historical_loss_rate,
    months_of_history,
    expected_credit_loss_rc::double as expected_credit_loss_rc
from marts.fct_expected_credit_loss
where as_of_date = (select max(as_of_date) from marts.fct_expected_credit_loss)
order by aging_bucket_order
