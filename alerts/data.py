"""What the alerts read from the published serving file, as Polars frames."""

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from core.serving import open_read_only

OPEN_ITEMS = """
select
    aging.invoice_id,
    aging.customer_id,
    customers.customer_name,
    customers.collector_id,
    customers.billing_email,
    customers.language,
    aging.currency,
    aging.invoice_date,
    aging.due_date,
    aging.days_past_due,
    aging.aging_bucket,
    aging.open_balance::double as open_balance,
    aging.open_balance_rc::double as open_balance_rc,
    invoices.invoice_number,
    invoices.is_disputed,
    exists (
        select 1 from marts.fct_collection_actions as actions
        where actions.invoice_id = aging.invoice_id and actions.is_latest_promise and actions.promise_status = 'pending'
    ) as has_pending_promise
from marts.fct_ar_aging as aging
inner join marts.dim_customers as customers on aging.customer_id = customers.customer_id
inner join marts.fct_invoices as invoices on aging.invoice_id = invoices.invoice_id
where aging.as_of_date = $as_of
order by aging.customer_id, aging.due_date, aging.invoice_id
"""

COLLECTORS = """
select distinct collector_id, collector_name, collector_email
from marts.dim_customers
where collector_id is not null
order by collector_id
"""

# Only an invoice's latest promise counts (fct_collection_actions.is_latest_promise), as on the worklist.
BROKEN_PROMISES = """
select
    actions.invoice_id,
    actions.customer_id,
    actions.promised_date,
    actions.promised_amount::double as promised_amount
from marts.fct_collection_actions as actions
inner join marts.fct_invoices as invoices on actions.invoice_id = invoices.invoice_id
where actions.is_latest_promise and actions.promise_status = 'broken' and invoices.is_open
"""

NEW_DISPUTES = """
select dispute_id, invoice_id, customer_id, reason, opened_date, currency, disputed_amount::double as disputed_amount
from marts.fct_disputes
where is_open and opened_date > $as_of::date - $days
"""

OVER_LIMIT = """
select
    exposure.customer_id,
    customers.customer_name,
    customers.collector_id,
    exposure.currency,
    exposure.credit_limit::double as credit_limit,
    exposure.exposure::double as exposure,
    exposure.credit_utilisation_pct,
    customers.overdue_ar_rc::double as overdue_ar_rc
from marts.fct_customer_credit_exposure as exposure
inner join marts.dim_customers as customers on exposure.customer_id = customers.customer_id
where exposure.is_over_credit_limit
order by exposure.customer_id
"""


# The collector's day (fct_worklist_items, where the order and the reasons live): the top items.
WORKLIST_TOP = """
select
    collector_id,
    priority_rank,
    invoice_id,
    customer_name,
    currency,
    open_balance::double as open_balance,
    due_date,
    days_past_due,
    priority_reason,
    new_since_yesterday
from marts.fct_worklist_items
where priority_rank <= $top
order by collector_id, priority_rank
"""

# Each collector's totals for the daily email, as fct_collector_daily computes them (the one home
# of these figures, which the worklist page shows too): the email only formats them.
COLLECTOR_TOTALS = """
select
    collector_id,
    open_ar_rc::double as open_rc,
    past_due_ar_rc::double as past_due_rc,
    worklist_items,
    broken_promises,
    broken_promises_rc::double as broken_promises_rc,
    new_invoices,
    new_disputes,
    newly_broken_promises,
    became_past_due,
    now_due_within_a_week
from marts.fct_collector_daily
order by collector_id
"""


@dataclass(frozen=True)
class Snapshot:
    """The published build the alerts of one run are computed from."""

    path: Path
    build_id: str
    as_of: dt.date
    checks: list[dict[str, object]]

    def frame(self, sql: str, **params: object) -> pl.DataFrame:
        # DuckDB wants exactly the parameters the statement names.
        given = {"as_of": self.as_of, **params}
        used = {name: value for name, value in given.items() if f"${name}" in sql}
        con = open_read_only(self.path)
        try:
            return pl.from_arrow(con.sql(sql, params=used).to_arrow_table())
        finally:
            con.close()


def snapshot(serving: Path) -> Snapshot:
    if not serving.exists():
        raise FileNotFoundError(f"No serving file at {serving}: run `o2c run` first.")
    con = open_read_only(serving)
    try:
        build_id, checks = con.execute("select build_id, check_results from _meta").fetchall()[0]
        as_of = con.execute("select max(as_of_date) from marts.fct_ar_aging").fetchall()[0][0]
    except duckdb.Error as error:
        raise RuntimeError(f"{serving}: not a complete serving file ({error})") from error
    finally:
        con.close()
    return Snapshot(serving, build_id, as_of, json.loads(checks) if checks else [])
