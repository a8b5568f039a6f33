with

source as (

    select * from ({{ union_raw('fx_rates', ['fx', 'files']) }}) as unioned

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
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
