-- What the published data holds, for the pages' "Not available" notes: one row per part, the row
-- count of each mart or forecast an optional source entity feeds, and how many customers carry
-- each optional attribute. Every table exists in every build (dbt builds each mart even without
-- its source entity), so a missing entity shows as zero rows, a missing column as zero values.
-- (A union of counts: DuckDB runs it several times faster than one row of scalar subqueries.)
select 'customers' as part, count(*) as n from marts.dim_customers
union all
select 'invoices', count(*) from marts.fct_invoices
union all
select 'payments', count(*) from marts.fct_payments
union all
select 'orders', count(*) from marts.fct_orders
union all
select 'cycle_time_orders', count(*) from marts.fct_o2c_cycle_times where cycle_start = 'order'
union all
select 'disputes', count(*) from marts.fct_disputes
union all
select 'otif_orders', count(is_otif) from marts.fct_order_fulfilment
union all
select 'perfect_order_orders', count(is_perfect_order) from marts.fct_order_fulfilment
union all
select 'accuracy_invoices', count(is_accurate) from marts.fct_invoice_accuracy
union all
select 'clv_customers', count(*) from forecasts.customer_clv
union all
select 'cash_forecast_weeks', count(*) from forecasts.cash_forecast
union all
select 'revenue_forecast_weeks', count(*) from forecasts.revenue_forecast
union all
select 'dq_results', count(*) from quality.dq_results
union all
select 'with_collector', count(collector_id) from marts.dim_customers
union all
select 'with_segment', count(segment) from marts.dim_customers
union all
select 'with_region', count(region) from marts.dim_customers
union all
select 'with_country', count(country) from marts.dim_customers
union all
select 'with_credit_limit', count(credit_limit) from marts.dim_customers
