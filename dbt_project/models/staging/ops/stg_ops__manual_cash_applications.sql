with

source as (

    select * from ({{ union_raw('manual_cash_applications', ['ops', 'files']) }}) as unioned

),

renamed as (

    select
        -- ids
        manual_application_id,
        payment_id,
        invoice_id,
        -- attributes
        lower(trim(action)) as action,
        entered_by,
        note,
        -- amounts (a reversal takes back whatever was applied: its amount means nothing)
        case when lower(trim(action)) = 'apply' then applied_amount end as applied_amount,
        -- dates
        action_date,
        -- timestamps
        updated_at,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
