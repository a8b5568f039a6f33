-- What the published data holds, for the pages' "Not available" notes: row counts of the marts
-- and forecasts that an optional source entity feeds, and how many customers carry each optional
-- attribute. Every table exists in every build (dbt builds each mart even without its source
-- entity), so a missing entity shows as zero rows, and a missing column as zero non-null values.
select
    (select count(*) from marts.dim_customers) as customers,
    (select count(*) from marts.fct_invoices) as invoices,
    (select count(*) from marts.fct_payments) as payments,
    (select count(*) from marts.fct_orders) as orders,
    (select count(*) from marts.fct_o2c_cycle_times) as cycle_time_orders,
    (select count(*) from marts.fct_disputes) as disputes,
    (select count(*) from forecasts.customer_clv) as clv_customers,
    (select count(*) from forecasts.cash_forecast) as cash_forecast_weeks,
    (select count(*) from forecasts.revenue_forecast) as revenue_forecast_weeks,
    (select count(*) from quality.dq_results) as dq_results,
    customers.with_collector,
    customers.with_segment,
    customers.with_region,
    customers.with_country,
    customers.with_credit_limit
from (
    select
        count(collector_id) as with_collector,
        count(segment) as with_segment,
        count(region) as with_region,
        count(country) as with_country,
        count(credit_limit) as with_credit_limit
    from marts.dim_customers
) as customers
