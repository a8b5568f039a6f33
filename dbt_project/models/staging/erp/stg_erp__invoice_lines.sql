with

source as (

    select * from {{ source('erp', 'invoice_lines') }}

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
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
