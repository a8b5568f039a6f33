with

source as (

    select * from {{ source('ops', 'collection_actions') }}

),

renamed as (

    select
        -- ids
        action_id,
        customer_id,
        invoice_id,
        collector_id,
        -- attributes
        action_type,
        dispute_reason,
        note,
        -- amounts
        promised_amount,
        -- dates
        action_date,
        promised_date,
        -- timestamps
        updated_at,
        -- lineage
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
