"""What a collector may see: their own customers' rows of every table, in one place.

A collector's queries run on a connection of their own (dashboards/db.py), where each table of the
serving file is shadowed by a view of the same name filtered to their customers — the customers
whose `dim_customers.collector_group` is their `collector_id`. The pages and the query files stay
the same for every role, so a new page or query cannot forget the filter: it reads the views too.

Each table gets one rule, from its columns and the declarations below:
- a `customer_id` column: the rows of the collector's customers (a receipt whose payer is not
  known has none: collectors do not see unidentified cash);
- else a `collector_id` column: the collector's own rows (their daily totals);
- declared customer-free: as it is (no customer's rows or values in it);
- declared masked: as it is, with the columns that quote source values blanked;
- anything else — the company-wide figures declared below, and any table nobody declared yet —
  is empty: no collector's share can be read from a company total, and a table that is not
  understood shows nothing rather than everything (tests/test_scoping.py names what a query reads
  that is not declared).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import streamlit as st

from core.serving import LOCKDOWN
from dashboards.auth import viewer

# The serving file's catalog on a collector's connection; the views live in the catalog `serving`,
# which every query runs in (`use serving`), so no query file names this one.
PUBLISHED = "published"
CUSTOMER_KEY = "customer_id"
COLLECTOR_KEY = "collector_id"

# Tables with no customer's rows or values: the same for every role.
CUSTOMER_FREE = frozenset(
    {
        "main._meta",
        "marts.dim_aging_buckets",
        "marts.dim_date",
        "marts.metricflow_time_spine",
        "quality.quarantine_summary",  # counts by source, entity, column and reason: no values
        "quality.source_freshness",
        "forecasts.forecast_status",
    }
)
# Tables a collector sees with these columns blanked: a failed expectation's sample of unexpected
# values may be any customer's name, id or amount.
MASKED: dict[str, tuple[str, ...]] = {"quality.dq_results": ("sample_unexpected",)}
# Company-wide figures: empty for a collector (their pages say so).
COMPANY_WIDE = frozenset(
    {
        "marts.fct_ar_kpis_monthly",
        "marts.fct_ar_kpis_weekly",
        "marts.fct_ar_month_to_date",
        "marts.fct_ar_monthly",
        "marts.fct_bad_debt_monthly",
        "marts.fct_expected_credit_loss",
        "marts.fct_cycle_times_monthly",
        "marts.fct_order_quality_monthly",
        "marts.fct_receipts_weekly",
        "marts.fct_revenue_daily",
        "forecasts.backtest_cash_weekly",
        "forecasts.backtest_pay_date",
        "forecasts.backtest_summary",
        "forecasts.cash_forecast",
        "forecasts.cash_forecast_history",
        "forecasts.cash_forecast_vs_actual",
        "forecasts.clv_model_parameters",
        "forecasts.revenue_forecast",
        "forecasts.revenue_forecast_accuracy",
        "forecasts.revenue_forecast_history",
        "forecasts.revenue_forecast_vs_actual",
    }
)


def rule(table: str, columns: list[str]) -> str:
    """How a collector sees `table` ("schema.name" with these columns): "customers", "collector",
    "free", "masked", "company" or "undeclared" (the last two: empty)."""
    if CUSTOMER_KEY in columns:
        return "customers"
    if COLLECTOR_KEY in columns:
        return "collector"
    if table in CUSTOMER_FREE:
        return "free"
    if table in MASKED:
        return "masked"
    return "company" if table in COMPANY_WIDE else "undeclared"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(table: str, columns: dict[str, str], collector_id: str) -> str:
    """The select a collector's view of `table` (columns: name → SQL type) is."""
    schema, name = table.split(".")
    source = f'{PUBLISHED}."{schema}"."{name}"'
    match rule(table, list(columns)):
        case "customers":
            return (
                f"select * from {source} where {CUSTOMER_KEY} in (select customer_id from {PUBLISHED}.marts.dim_customers"
                f" where collector_group = {_literal(collector_id)})"
            )
        case "collector":
            return f"select * from {source} where {COLLECTOR_KEY} = {_literal(collector_id)}"
        case "free":
            return f"select * from {source}"
        case "masked":
            blanked = ", ".join(f'null::{columns[c]} as "{c}"' for c in MASKED[table])
            return f"select * replace ({blanked}) from {source}"
        case _:
            return f"select * from {source} where false"


def open_for_collector(serving: Path, collector_id: str) -> duckdb.DuckDBPyConnection:
    """The serving file as the collector `collector_id` may see it: attached read-only as
    `published`, every table shadowed by a view in the in-memory catalog `serving` (the default),
    then locked down like every reader's connection (core/serving.py)."""
    con = duckdb.connect(":memory:")
    con.execute(f"attach ? as {PUBLISHED} (read_only)", [str(serving)])
    con.execute("attach ':memory:' as serving")
    tables: dict[str, dict[str, str]] = {}
    for schema, name, column, data_type in con.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = ? order by table_schema, table_name, ordinal_position",
        [PUBLISHED],
    ).fetchall():
        tables.setdefault(f"{schema}.{name}", {})[column] = data_type
    for table, columns in tables.items():
        schema, name = table.split(".")
        con.execute(f'create schema if not exists serving."{schema}"')
        con.execute(f'create view serving."{schema}"."{name}" as {view_sql(table, columns, collector_id)}')
    con.execute("use serving")
    for statement in LOCKDOWN:
        con.execute(statement)
    return con


# ---- What the pages say about it -----------------------------------------------------------


def say_whose() -> None:
    """Under every page's title (ui.freshness): whose figures a collector is looking at."""
    who = viewer()
    if not who.sees_all_customers:
        st.caption(
            f"Your customers only (collector {who.collector_id}): every figure, table and download on this "
            "page is of the customers assigned to you."
        )


def company_wide_only(what: str) -> None:
    """For a collector, on a page of company-wide figures (`what`): say why it is empty, and stop."""
    if not viewer().sees_all_customers:
        st.info(
            f"{what} are company-wide figures: they are not shown to collectors. Your customers' figures "
            "are on the AR aging, AR bridge, Customers and Collections worklist pages."
        )
        st.stop()
