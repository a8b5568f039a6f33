-- Cash application, amount pass 4: macros/cash_application_amount_pass.sql.
{{ cash_application_amount_pass(4) }}
