with

source as (

    select * from ({{ union_raw('credit_memos', ['erp', 'files']) }}) as unioned

),

renamed as (

    select
        -- ids
        credit_memo_id,
        customer_id,
        invoice_id,
        -- attributes
        credit_memo_number,
        currency,
        reason,
        -- amounts
        credit_amount,
        -- dates
        credit_memo_date,
        -- timestamps
        updated_at,
        -- categories
        -- the write-off reasons are a var (real ERPs name them differently), compared case-insensitively
        coalesce(lower(reason) in (
            {%- for write_off_reason in var('write_off_reasons') %}
            '{{ write_off_reason | lower }}'{{ ',' if not loop.last }}
            {%- endfor %}
        ), false) as is_write_off,
        -- lineage
        source_system,
        _source_file as source_file,
        _dlt_load_id as dlt_load_id

    from source

)

select * from renamed
