"""Page helpers: the guard for a missing build, number formats, empty states, the freshness line,
and the "Not available" notes for what a company's data does not have."""

import datetime as dt
import io
import json
from collections.abc import Callable
from decimal import Decimal

import duckdb
import polars as pl
import streamlit as st

from core import formatting
from dashboards import db, plain_text, scope

# Data text on the pages (dashboards/plain_text.py, the one rule the sign-in shares).
plain = plain_text.plain
text = plain_text.text
WORD_JOINER = plain_text.WORD_JOINER

BUILD_HINT = "Build it with `make demo` (simulated data) or `o2c run` (your sources), then reload this page."


# The session-state entry counting the tables drawn in this run by name (ui.table): reset by
# guard(), which every page calls first.
TABLES_THIS_RUN = "_ui_tables_this_run"


def guard() -> dict[str, object]:
    """The published build's metadata; stops the page with a clear message when there is none."""
    st.session_state[TABLES_THIS_RUN] = {}
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
    scope.say_whose()


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


def chart_text(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Text columns from the data for Plotly labels and hover texts, which understand a few HTML
    tags (<a href>, <b>, <br>): & < > as entities, so a name shows as written and links nowhere."""
    return frame.with_columns(
        pl.col(column)
        .str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
        for column in columns
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """A table as a CSV download: text cells that a spreadsheet would run as a formula are
    quoted (core/formatting.spreadsheet_safe); numbers stay numbers."""
    return formatting.spreadsheet_safe(frame).write_csv().encode()


def currency() -> str:
    """The reporting currency every `_rc` amount is in."""
    from core.settings import get_settings

    return get_settings().reporting_currency


def money(value: float | Decimal | None, decimals: int = 0) -> str:
    """An amount in the reporting currency with its symbol: whole units on tiles ("$163,922"),
    cents where a figure is reconciled (decimals=2)."""
    return formatting.money(value, currency(), decimals)


def signed_money(value: float | Decimal | None) -> str | None:
    """A change of an amount for a tile's delta: "+$1,500", "−$300"; None when there is none."""
    if value is None:
        return None
    text = formatting.money(abs(value), currency(), 0)
    shown = round(float(value))
    return text if shown == 0 else ("+" if shown > 0 else "−") + text


def number(value: float | None, suffix: str = "", digits: int = 1) -> str:
    return formatting.MISSING if value is None else f"{formatting.number(value, digits)}{suffix}"


def percent(value: float | Decimal | None) -> str:
    """A percentage as the marts store it (in percent) for a tile: "93.2%"."""
    return formatting.percent(value)


def days(value: float | Decimal | None, decimals: int = 1) -> str:
    """A number of days for a tile: "45.2 days" (a whole count of days: decimals=0)."""
    return formatting.days(value, decimals)


def count(value: int | None, noun: str | None = None) -> str:
    """A count for a tile, whole and without a trend arrow: "12 receipts"."""
    return formatting.count(value, noun)


def label(column: str) -> str:
    """A column's human label, amounts with the reporting currency (core/formatting.LABELS)."""
    return formatting.label(column, currency())


def humanised(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """`columns` renamed to their human labels: what a chart's legend shows for unpivoted series
    ("median_days" → "Median (days)")."""
    return frame.rename({column: label(column) for column in columns})


def worded(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Codes in `columns` as words for a chart's legend or axis: "mid_market" → "mid market"."""
    return frame.with_columns(pl.col(column).str.replace_all("_", " ") for column in columns)


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


# What a column measures, by its name: `_rc` amounts are in the reporting currency; other amounts
# (`amount`, `balance`, a credit limit) in the currency of their row's `currency` column.
MONEY_COLUMNS = ("_rc", "amount", "balance", "credit_limit", "exposure", "available_credit")
PERCENT_COLUMNS = ("_pct", "pct_")
DAY_COLUMNS = ("days", "_p50", "_p90")


def column_format(name: str, dtype: pl.DataType) -> str | None:
    """How a numeric column reads: amounts with separators and cents, percentages and days with
    one decimal, other fractions with two, counts whole (the unit is in the column's label)."""
    # DuckDB's counts and sums of integers arrive as HUGEINT, i.e. decimals without a fraction.
    whole = dtype.is_integer() or (isinstance(dtype, pl.Decimal) and dtype.scale == 0)
    if whole and not any(part in name for part in MONEY_COLUMNS):
        return "%d" if name.endswith(("_order", "_id", "_rank")) else "%,d"
    if any(part in name for part in MONEY_COLUMNS):
        return "%,.2f"
    if any(part in name for part in PERCENT_COLUMNS + DAY_COLUMNS):
        return "%,.1f"
    return "%,.2f"


def table(frame: pl.DataFrame, **options: object):
    """A dataframe as a readable table: human headers (amounts with the reporting currency), dates
    without a time, amounts with separators and cents, "–" where a value is missing; and its Excel
    download beneath it."""
    config: dict[str, object] = {}
    for name, dtype in frame.schema.items():
        header = label(name)
        if dtype == pl.Date:
            config[name] = st.column_config.DateColumn(header, format="YYYY-MM-DD")
        elif isinstance(dtype, pl.Datetime):  # when something was entered: to the minute
            config[name] = st.column_config.DatetimeColumn(header, format="YYYY-MM-DD HH:mm")
        elif dtype.is_numeric():
            config[name] = st.column_config.NumberColumn(header, format=column_format(name, dtype))
        else:
            config[name] = st.column_config.Column(header)
    # a missing value reads "–", as on tiles, not the grid's default "None"
    options.setdefault("placeholder", formatting.MISSING)
    shown = st.dataframe(frame, hide_index=True, width="stretch", column_config=config, **options)
    # A table without a key is named by its columns; its button is keyed by that name and how many
    # tables of that name came before it in this run, so two tables with the same columns (the
    # worklist's saved and logged actions, even with the same rows) get two buttons.
    name = str(options.get("key") or "_".join(frame.columns))
    seen = st.session_state.setdefault(TABLES_THIS_RUN, {})
    seen[name] = seen.get(name, 0) + 1
    excel_download(frame, name, f"excel_{name}_{seen[name]}")
    return shown


# Excel's number formats for the same rules as the table's (column_format).
EXCEL_FORMATS = {"%,.2f": "#,##0.00", "%,.1f": "#,##0.0", "%,d": "#,##0", "%d": "0"}


def excel(frame: pl.DataFrame) -> bytes:
    """The table as an .xlsx workbook, with the same human headers and decimals as on the page.

    Every text cell is written as text, and one starting with = + - @ or a tab (a customer name, a
    remittance note) carries the leading quote of core/formatting.spreadsheet_safe, as in the
    CSV downloads and email attachments: never a formula, and no text becomes a link."""
    from xlsxwriter import Workbook

    buffer = io.BytesIO()
    # Excel has no time zones and no 128-bit decimals: amounts as numbers (exact to the cent),
    # times as the UTC clock time.
    cleaned = formatting.spreadsheet_safe(frame).with_columns(
        pl.col(pl.Decimal).cast(pl.Float64),
        pl.col(pl.Datetime("us", "*"), pl.Datetime("ns", "*"), pl.Datetime("ms", "*"))
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None),
    )
    formats: dict[str, str] = {}
    for name, dtype in frame.schema.items():
        if dtype == pl.Date:
            formats[label(name)] = "yyyy-mm-dd"
        elif isinstance(dtype, pl.Datetime):
            formats[label(name)] = "yyyy-mm-dd hh:mm"
        elif dtype.is_numeric():
            formats[label(name)] = EXCEL_FORMATS[column_format(name, dtype) or "%,.2f"]
    cleaned = cleaned.rename({name: label(name) for name in frame.columns})
    workbook = Workbook(buffer, {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True})
    try:
        cleaned.write_excel(workbook, worksheet="Table", autofit=True, column_formats=formats)
    finally:
        workbook.close()
    return buffer.getvalue()


def excel_download(frame: pl.DataFrame, name: str, key: str) -> None:
    st.download_button(
        "Download Excel",
        data=lambda: excel(frame),  # written when clicked, not on every rerun
        file_name=f"{name[:60]}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:",
        key=key,
        on_click="ignore",
    )


def save(key: str, refused: str | None, store: Callable[[], str], saved: Callable[[str], str]) -> None:
    """A form's save: unless `refused` says why the user may not (db.why_not_act, checked on the
    server whatever the form offered), `store` records it in the ops store and returns its id;
    `saved(id)` is what show_saved(key) says after the rerun that lists it. What the ops store
    refuses (ValueError) is said at once, nothing saved."""
    try:
        if refused:
            raise ValueError(refused)
        record_id = store()
    except ValueError as problem:
        st.error(f"Not saved: {plain(problem)}.")
    else:
        st.session_state[key] = saved(record_id)
        st.rerun()


def show_saved(key: str) -> None:
    """What the last save of this form stored (see save); the ids and amounts in it are data."""
    if message := st.session_state.pop(key, None):
        st.success(f"Saved: {plain(message)}")
