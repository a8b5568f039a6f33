"""The suites' rules beyond the source contract (ingestion/contract.py): what a row's columns
must say together, and what it must find in other tables. Apart from the suites (quality/suites.py)
so that what a suite reads can be told without importing Great Expectations
(quality/checked_loads.py)."""

from __future__ import annotations

import datetime as dt

# Extra rules per entity that need more than one column of a row: (later, earlier) dates.
DATE_ORDER: dict[str, list[tuple[str, str]]] = {
    "invoices": [("due_date", "invoice_date")],
    "disputes": [("resolved_date", "opened_date")],
    "shipments": [("shipment_date", "_order_date")],
}
# A date from a parent row, joined in before validation: (key column, parent, parent's date).
JOINED_DATES: dict[str, tuple[str, str, str]] = {"shipments": ("order_id", "sales_orders", "order_date")}
# References a later load may still satisfy (processor files can land after the ERP): warnings.
LATE_REFERENCES: dict[str, list[tuple[str, str]]] = {"payment_applications": [("payment_id", "payments")]}
# Business dates outside this window are typos (a year 2206 due date), not business. The window
# ends a fixed number of days after today, so it only widens as days pass.
PLAUSIBLE_DATES = (dt.datetime(1990, 1, 1), 400)  # (earliest, days after today); pandas dates are datetimes
