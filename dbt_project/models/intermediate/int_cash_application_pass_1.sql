-- Cash application, amount pass 1: macros/cash_application_amount_pass.sql.
{{ cash_application_amount_pass(1) }}
