with

source as (

    select * from ({{ union_raw('customers', ['erp', 'files']) }}) as unioned

),

renamed as (

    select
        -- ids
        customer_id,
        collector_id,
        -- attributes
        customer_name,
        segment,
        region,
        country,
        currency,
        payment_terms_code,
        bank_account,
        billing_email,
        coalesce(language, 'en') as language,
        -- amounts
        credit_limit,
        -- quantities
        payment_terms_days,
        -- timestamps
        created_at,
        updated_at,
        -- categories
        payment_terms_code = '2/10NET30' as has_early_payment_discount,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
