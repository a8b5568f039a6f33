with

source as (

    select * from ({{ union_raw('payment_applications', ['erp', 'files']) }}) as unioned

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
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
