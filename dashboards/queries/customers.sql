-- Customers with payment behaviour, credit exposure and lifetime value, searchable by name,
-- sorted by an allow-listed column ({order_by}): the first $limit, and how many match.
select
    customers.customer_id,
    customers.customer_name,
    customers.segment,
    customers.region,
    customers.collector_name,
    customers.currency,
    customers.open_ar_rc::double as open_ar_rc,
    customers.overdue_ar_rc::double as overdue_ar_rc,
    customers.weighted_days_to_pay,
    customers.weighted_days_late,
    customers.pct_paid_late,
    customers.dispute_rate_pct,
    exposure.credit_limit::double as credit_limit,
    exposure.exposure::double as exposure,
    exposure.credit_utilisation_pct,
    exposure.is_over_credit_limit,
    history.net_revenue_rc::double as net_revenue_rc,
    history.gross_margin_pct,
    clv.probability_alive,
    clv.predicted_revenue as predicted_revenue_12m_rc,
    clv.value_rank,
    count(*) over () as matching
from marts.dim_customers as customers
left join marts.fct_customer_credit_exposure as exposure on customers.customer_id = exposure.customer_id
left join marts.fct_customer_lifetime_value as history on customers.customer_id = history.customer_id
left join forecasts.customer_clv as clv on customers.customer_id = clv.customer_id
where customers.customer_name ilike '%' || $search || '%' escape '\'
order by {order_by} desc nulls last, customers.customer_name
limit $limit
