with

source as (

    select * from ({{ union_raw('disputes', ['erp', 'files']) }}) as unioned

),

renamed as (

    select
        -- ids
        dispute_id,
        invoice_id,
        customer_id,
        -- attributes
        reason,
        dispute_status,
        resolution,
        -- amounts
        disputed_amount,
        -- dates
        opened_date,
        resolved_date,
        -- timestamps
        updated_at,
        -- categories
        dispute_status = 'open' as is_open,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
