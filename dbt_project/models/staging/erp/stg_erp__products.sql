with

source as (

    select * from ({{ union_raw('products', ['erp', 'files']) }}) as unioned

),

renamed as (

    select
        -- ids
        product_id,
        -- attributes
        product_name,
        category,
        -- amounts
        list_price_usd,
        unit_cost_usd,
        -- timestamps
        updated_at,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
