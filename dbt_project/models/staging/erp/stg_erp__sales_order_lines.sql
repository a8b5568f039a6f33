with

source as (

    select * from {{ source('erp', 'sales_order_lines') }}

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
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
