"""Page helpers: the guard for a missing build, number formats, empty states, the freshness line,
and the "Not available" notes for what a company's data does not have."""

import datetime as dt
import json

import duckdb
import polars as pl
import streamlit as st

from dashboards import db

BUILD_HINT = "Build it with `make demo` (simulated data) or `o2c run` (your sources), then reload this page."


def guard() -> dict[str, object]:
    """The published build's metadata; stops the page with a clear message when there is none."""
    try:
        meta = db.query("meta")
        as_of = db.query("data_as_of")["as_of_date"][0]
    except db.NoServingFile as missing:
        st.error(f"No published data yet: there is no serving file at `{missing}`. {BUILD_HINT}")
        st.stop()
    except duckdb.CatalogException as error:
        st.error(f"The serving file is from an older version and lacks a table this page needs ({error}). {BUILD_HINT}")
        st.stop()
    row = meta.row(0, named=True)
    return {**row, "as_of_date": as_of}


def freshness(meta: dict[str, object]) -> None:
    built = meta["built_at"]
    built_text = built.strftime("%Y-%m-%d %H:%M UTC") if isinstance(built, dt.datetime) else str(built)
    as_of = meta["as_of_date"] or "– (no invoices)"
    st.caption(f"Data as of **{as_of}** · built at {built_text} · build `{str(meta['build_id'])[:8]}`")


# What each optional part of a company's data is, and which entity (file) of the source contract
# (docs/sources.md) would provide it: the words of every "Not available" note.
MISSING: dict[str, tuple[str, str]] = {
    "customers": ("customers", "the `customers` entity, e.g. `customers.csv`"),
    "invoices": ("invoices", "the `invoices` entity, e.g. `invoices.csv`"),
    "payments": ("payments", "the `payments` entity, e.g. `payments.csv`, or bank statement files"),
    "orders": ("sales orders", "the `sales_orders` entity, e.g. `sales_orders.csv`"),
    "disputes": ("disputes", "the `disputes` entity, e.g. `disputes.csv`"),
    "fulfilment": ("shipments or order lines", "the `shipments` and `sales_order_lines` entities"),
    "accuracy": ("disputes or credit memos", "the `disputes` or `credit_memos` entity"),
    "collectors": ("collectors", "the `collectors` entity and the customers' `collector_id` column"),
    "clv": ("repeat orders", "lifetime value is fitted on customers' repeat orders: the `sales_orders` entity"),
    "cash_forecast": ("cash forecast", "`o2c run` makes it from the `invoices` and `payments` entities"),
    "revenue_forecast": ("revenue forecast", "`o2c run` makes it from the `invoices` and `sales_orders` entities"),
    "dq_results": ("data-quality results", "`o2c run` checks each load of the source entities"),
    "credit_limit": ("credit limits", "the customers' `credit_limit` column"),
    "segment": ("customer segments", "the customers' `segment` column"),
    "region": ("customer regions", "the customers' `region` column"),
}


def not_available(missing: str, section: str | None = None) -> None:
    """The plain note for a page or section whose data the company does not have."""
    what, provider = MISSING[missing]
    note = f"Not available: your data has no {what} ({provider})."
    st.info(f"**{section}** — {note}" if section else note)


def available() -> dict[str, int]:
    """Row counts of the marts an optional entity feeds, and of customers with each optional
    attribute (queries/available.sql): what the pages may show."""
    return dict(db.query("available").iter_rows())


def text(value: object) -> str:
    """An optional attribute for display: "(none)" where the data has no value."""
    return "(none)" if value is None else str(value)


def money(value: float | None) -> str:
    """Whole units of the reporting currency with thousands separators: exact enough to reconcile."""
    if value is None:
        return "–"
    return f"{value:,.0f}"


def number(value: float | None, suffix: str = "", digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}{suffix}"


def empty(frame: pl.DataFrame, what: str = "these filters") -> bool:
    """True (and a friendly note shown) when there is nothing to show."""
    if frame.is_empty():
        st.info(f"No results for {what}.")
        return True
    return False


def checks(meta: dict[str, object]) -> pl.DataFrame:
    rows = json.loads(meta["check_results"]) if meta.get("check_results") else []
    return pl.DataFrame(
        rows,
        schema={
            "asset": pl.String,
            "check": pl.String,
            "passed": pl.Boolean,
            "severity": pl.String,
            "blocking": pl.Boolean,
        },
    ).with_columns(pl.col("blocking").fill_null(False))  # a build published before it was recorded: it blocked nothing


def like_pattern(text: str) -> str:
    """User text for an ILIKE '%…%' search, with its wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def table(frame: pl.DataFrame, **options: object):
    """A dataframe as a readable table: dates without a time, amounts with separators and cents."""
    config: dict[str, object] = {}
    for name, dtype in frame.schema.items():
        if dtype == pl.Date:
            config[name] = st.column_config.DateColumn(format="YYYY-MM-DD")
        elif dtype in (pl.Float32, pl.Float64) or isinstance(dtype, pl.Decimal):
            config[name] = st.column_config.NumberColumn(format="localized")
    return st.dataframe(frame, hide_index=True, width="stretch", column_config=config, **options)
