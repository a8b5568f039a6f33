with

source as (

    select * from {{ source('erp', 'products') }}

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
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
