with

source as (

    select * from {{ source('fx', 'fx_rates') }}

),

renamed as (

    select
        -- attributes
        from_currency,
        to_currency,
        -- amounts
        rate,
        -- dates
        rate_date,
        -- timestamps
        updated_at,
        -- lineage
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
