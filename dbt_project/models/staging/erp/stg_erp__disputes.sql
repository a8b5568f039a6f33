with

source as (

    select * from {{ source('erp', 'disputes') }}

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
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
