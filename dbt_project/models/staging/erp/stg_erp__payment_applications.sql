with

source as (

    select * from {{ source('erp', 'payment_applications') }}

),

renamed as (

    select
        -- ids
        application_id,
        payment_id,
        invoice_id,
        -- amounts
        applied_amount,
        -- dates
        applied_date,
        -- timestamps
        updated_at,
        -- lineage
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
