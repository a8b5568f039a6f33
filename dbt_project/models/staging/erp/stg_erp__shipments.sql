with

source as (

    select * from ({{ union_raw('shipments', ['erp', 'files']) }}) as unioned

),

renamed as (

    select
        -- ids
        shipment_id,
        order_id,
        -- attributes
        carrier,
        -- quantities
        shipment_number,
        -- dates
        shipment_date,
        -- timestamps
        updated_at,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
