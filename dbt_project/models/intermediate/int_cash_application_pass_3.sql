-- Cash application, amount pass 3: macros/cash_application_amount_pass.sql.
{{ cash_application_amount_pass(3) }}
