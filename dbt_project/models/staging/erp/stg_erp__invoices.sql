with

source as (

    select * from ({{ union_raw('invoices', ['erp', 'files']) }}) as unioned

),

renamed as (

    select
        -- ids
        invoice_id,
        customer_id,
        order_id,
        shipment_id,
        -- attributes
        invoice_number,
        currency,
        payment_terms_code,
        invoice_status,
        -- amounts
        invoice_amount,
        -- dates
        invoice_date,
        due_date,
        -- timestamps
        updated_at,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
