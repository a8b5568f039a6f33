with

source as (

    select * from {{ source('erp', 'sales_orders') }}

),

renamed as (

    select
        -- ids
        order_id,
        customer_id,
        -- attributes
        currency,
        order_status,
        -- amounts
        order_amount,
        -- dates
        order_date,
        -- timestamps
        credit_approved_at,
        updated_at,
        -- categories
        order_status = 'cancelled' as is_cancelled,
        -- lineage
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
