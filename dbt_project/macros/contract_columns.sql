{#- Generated from ingestion/contract.py by `o2c contract --write-dbt`: do not edit by hand.
    Each entity's contract columns as (name, logical type); `contract_type` makes them SQL. -#}
{% macro contract_columns(entity) -%}
{%- set columns = {
    'collectors': [('collector_id', 'string'), ('collector_name', 'string'), ('email', 'string'), ('region', 'string'), ('updated_at', 'timestamp')],
    'customers': [('customer_id', 'string'), ('customer_name', 'string'), ('segment', 'string'), ('region', 'string'), ('country', 'string'), ('currency', 'string'), ('payment_terms_code', 'string'), ('payment_terms_days', 'int'), ('credit_limit', 'money'), ('collector_id', 'string'), ('bank_account', 'string'), ('billing_email', 'string'), ('language', 'string'), ('created_at', 'timestamp'), ('updated_at', 'timestamp')],
    'products': [('product_id', 'string'), ('product_name', 'string'), ('category', 'string'), ('list_price_usd', 'money'), ('unit_cost_usd', 'money'), ('updated_at', 'timestamp')],
    'sales_orders': [('order_id', 'string'), ('customer_id', 'string'), ('order_date', 'date'), ('currency', 'string'), ('order_amount', 'money'), ('order_status', 'string'), ('credit_approved_at', 'timestamp'), ('updated_at', 'timestamp')],
    'sales_order_lines': [('order_line_id', 'string'), ('order_id', 'string'), ('line_number', 'int'), ('product_id', 'string'), ('quantity', 'int'), ('quantity_shipped', 'int'), ('unit_price', 'money'), ('line_amount', 'money'), ('updated_at', 'timestamp')],
    'shipments': [('shipment_id', 'string'), ('order_id', 'string'), ('shipment_number', 'int'), ('shipment_date', 'date'), ('carrier', 'string'), ('updated_at', 'timestamp')],
    'invoices': [('invoice_id', 'string'), ('invoice_number', 'string'), ('customer_id', 'string'), ('order_id', 'string'), ('shipment_id', 'string'), ('invoice_date', 'date'), ('due_date', 'date'), ('currency', 'string'), ('payment_terms_code', 'string'), ('payment_terms_days', 'int'), ('invoice_amount', 'money'), ('invoice_status', 'string'), ('updated_at', 'timestamp')],
    'invoice_lines': [('invoice_line_id', 'string'), ('invoice_id', 'string'), ('order_line_id', 'string'), ('product_id', 'string'), ('quantity', 'int'), ('unit_price', 'money'), ('line_amount', 'money'), ('updated_at', 'timestamp')],
    'credit_memos': [('credit_memo_id', 'string'), ('credit_memo_number', 'string'), ('customer_id', 'string'), ('invoice_id', 'string'), ('credit_memo_date', 'date'), ('currency', 'string'), ('credit_amount', 'money'), ('reason', 'string'), ('updated_at', 'timestamp')],
    'disputes': [('dispute_id', 'string'), ('invoice_id', 'string'), ('customer_id', 'string'), ('opened_date', 'date'), ('reason', 'string'), ('disputed_amount', 'money'), ('dispute_status', 'string'), ('resolution', 'string'), ('resolved_date', 'date'), ('updated_at', 'timestamp')],
    'payments': [('payment_id', 'string'), ('customer_id', 'string'), ('payer_name', 'string'), ('payer_account', 'string'), ('invoice_id', 'string'), ('payment_date', 'date'), ('amount', 'money'), ('currency', 'string'), ('payment_method', 'string'), ('payment_type', 'string'), ('remittance_info', 'string'), ('original_payment_id', 'string'), ('updated_at', 'timestamp')],
    'payment_applications': [('application_id', 'string'), ('payment_id', 'string'), ('invoice_id', 'string'), ('applied_amount', 'money'), ('applied_date', 'date'), ('updated_at', 'timestamp')],
    'fx_rates': [('rate_date', 'date'), ('from_currency', 'string'), ('to_currency', 'string'), ('rate', 'rate'), ('updated_at', 'timestamp')],
    'collection_actions': [('action_id', 'string'), ('customer_id', 'string'), ('invoice_id', 'string'), ('collector_id', 'string'), ('action_type', 'string'), ('action_date', 'date'), ('promised_date', 'date'), ('promised_amount', 'money'), ('note', 'string'), ('dispute_reason', 'string'), ('entered_by', 'string'), ('updated_at', 'timestamp')],
    'manual_cash_applications': [('manual_application_id', 'string'), ('action', 'string'), ('payment_id', 'string'), ('invoice_id', 'string'), ('applied_amount', 'money'), ('action_date', 'date'), ('entered_by', 'string'), ('note', 'string'), ('updated_at', 'timestamp')],
} -%}
{{ return(columns[entity]) }}
{%- endmacro %}
