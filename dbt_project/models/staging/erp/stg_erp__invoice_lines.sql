with

source as (

    select * from ({{ union_raw('invoice_lines', ['erp', 'files']) }}) as unioned

),

renamed as (

    select
        -- ids
        invoice_line_id,
        invoice_id,
        order_line_id,
        product_id,
        -- amounts
        unit_price,
        line_amount,
        -- quantities
        quantity,
        -- timestamps
        updated_at,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
