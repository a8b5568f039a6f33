with

source as (

    select * from ({{ union_raw('collection_actions', ['ops', 'files']) }}) as unioned

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
        entered_by,
        -- amounts
        promised_amount,
        -- dates
        action_date,
        promised_date,
        -- timestamps
        updated_at,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
