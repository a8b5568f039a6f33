with

source as (

    select * from ({{ union_raw('payments', ['processor']) }}) as unioned

),

renamed as (

    select
        -- ids
        payment_id,
        customer_id,
        original_payment_id,
        invoice_id,
        -- attributes
        payer_name,
        payer_account,
        currency,
        payment_method,
        payment_type,
        remittance_info,
        -- amounts
        amount,
        -- dates
        payment_date,
        -- timestamps
        updated_at,
        -- categories
        'processor' as payment_source,
        payment_type = 'refund' as is_refund,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
