with

source as (

    select * from ({{ union_raw('sales_order_lines', ['erp', 'files']) }}) as unioned

),

renamed as (

    select
        -- ids
        order_line_id,
        order_id,
        product_id,
        -- amounts
        unit_price,
        line_amount,
        -- quantities
        line_number,
        quantity,
        quantity_shipped,
        -- timestamps
        updated_at,
        -- categories
        quantity_shipped < quantity as is_backordered,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
