-- "Today" for the data: the latest day any source has recorded activity for. Every "current"
-- figure is as of this date, never the wall clock, so a rebuild gives the same numbers.

select max(activity_date) as as_of_date
from (
    select max(order_date) as activity_date from {{ ref('stg_erp__sales_orders') }}
    union all
    select max(invoice_date) from {{ ref('stg_erp__invoices') }}
    union all
    select max(payment_date) from {{ ref('int_payments_unioned') }}
) as activity
