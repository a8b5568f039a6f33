-- Cash application, amount pass 2: macros/cash_application_amount_pass.sql.
{{ cash_application_amount_pass(2) }}
