-- One customer: master data, behaviour, exposure and value.
select
    customers.*,
    exposure.available_credit::double as available_credit,
    history.first_order_date,
    history.net_revenue_rc::double as net_revenue_rc,
    history.gross_margin_pct,
    clv.probability_alive,
    clv.predicted_revenue as predicted_revenue_12m_rc
from marts.dim_customers as customers
left join marts.fct_customer_credit_exposure as exposure on customers.customer_id = exposure.customer_id
left join marts.fct_customer_lifetime_value as history on customers.customer_id = history.customer_id
left join forecasts.customer_clv as clv on customers.customer_id = clv.customer_id
where customers.customer_id = $customer_id
