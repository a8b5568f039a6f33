with

source as (

    select * from {{ source('erp', 'collectors') }}

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
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
