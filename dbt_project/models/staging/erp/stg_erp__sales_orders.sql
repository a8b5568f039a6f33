with

source as (

    select * from ({{ union_raw('sales_orders', ['erp', 'files']) }}) as unioned

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
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
