with

source as (

    select * from ({{ union_raw('collectors', ['erp', 'files']) }}) as unioned

),

renamed as (

    select
        -- ids
        collector_id,
        -- attributes
        collector_name,
        email,
        region,
        -- timestamps
        updated_at,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
