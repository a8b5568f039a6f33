"""The Streamlit dashboards on a small simulated world: every page's key numbers equal the marts
(AppTest), a real browser works the worklist against `streamlit run`, hostile filter values do no
harm, and the app keeps serving while the serving file is swapped."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

import duckdb
import numpy as np
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.settings import REPO_ROOT
from tests.conftest import DATA_PAGES, o2c

if TYPE_CHECKING:  # imported where a browser test runs
    from playwright.sync_api import Page

APP = REPO_ROOT / "dashboards" / "streamlit_app.py"
# Each page's path and a title it shows, for the browser tests.
PAGE_TITLES = {
    "": "Order-to-cash overview",
    "ar_aging": "AR aging",
    "cycle_times": "O2C cycle times",
    "cash_forecast": "Cash forecast",
    "customers": "Customers",
    "customer_360": "Customer 360",
    "worklist": "Collections worklist",
    "unapplied_cash": "Unapplied cash",
    "data_health": "Data health",
}
# The AR bridge page has its own tests (test_ar_bridge.py), on worlds made for it.
PAGES = tuple(p for p in DATA_PAGES if p != "ar_bridge")
CHROMIUM = "/usr/bin/chromium"
HOSTILE = ("'; DROP TABLE marts.dim_customers; --", "../../../../etc/passwd", "%' OR 1=1 --", "$search")


@pytest.fixture(scope="module")
def built(dashboard_world: Path) -> Path:
    return dashboard_world


def serving(data: Path) -> Path:
    return data / "warehouse" / "serving.duckdb"


def mart(data: Path, sql: str, params: list[object] | None = None) -> pl.DataFrame:
    con = duckdb.connect(str(serving(data)), read_only=True)
    try:
        return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    finally:
        con.close()


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    return at.switch_page(f"app_pages/{name}.py").run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def money(value: object) -> str:
    """An amount as a tile shows it: the reporting currency's symbol (the default, USD), whole units."""
    amount = float(value)
    return f"{'-' if round(amount) < 0 else ''}${abs(amount):,.0f}"


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_overview_tiles_equal_the_monthly_kpis(app_env: Path) -> None:
    from core import formatting

    at = page("overview")
    assert_clean(at)
    kpis = mart(app_env, "select * from marts.fct_ar_kpis_monthly order by month_start desc limit 2")
    latest, month_end = kpis.row(0, named=True), kpis.row(1, named=True)
    periods = mart(app_env, "select * from marts.fct_ar_month_to_date order by period_order desc")
    to_date, same_days = periods.row(0, named=True), periods.row(1, named=True)
    tiles = {m.label: m for m in at.metric}
    shown = {label: m.value for label, m in tiles.items()}
    # Stocks at the as-of date, with the reporting currency and their unit.
    assert shown["Open AR (gross)"] == formatting.money(latest["open_ar_rc"], "USD")
    assert shown["Net AR"] == formatting.money(latest["open_ar_net_rc"], "USD")
    assert shown["DSO (simple)"] == formatting.days(latest["dso_simple"])
    assert shown["DSO (countback)"] == formatting.days(latest["dso_countback"])
    assert shown["Best possible DSO"] == formatting.days(latest["bpdso"])
    assert shown["% current"] == formatting.percent(latest["pct_current"])
    # ... compared with the previous month-end: days in days, percentages in points.
    assert tiles["DSO (simple)"].delta == formatting.change(latest["dso_simple"] - month_end["dso_simple"], "days")
    assert tiles["% current"].delta == formatting.points(latest["pct_current"] - month_end["pct_current"])
    assert tiles["Open AR (gross)"].delta == formatting.signed_money(
        float(latest["open_ar_rc"]) - float(month_end["open_ar_rc"]), "USD"
    )
    # Flows month to date against the same days of the previous month.
    assert shown["CEI month to date"] == formatting.percent(to_date["cei"])
    assert tiles["CEI month to date"].delta == formatting.points(to_date["cei"] - same_days["cei"])
    assert shown["Cash collected month to date"] == formatting.money(to_date["cash_collected_rc"], "USD")
    assert tiles["Cash collected month to date"].delta == formatting.signed_money(
        float(to_date["cash_collected_rc"]) - float(same_days["cash_collected_rc"]), "USD"
    )
    top = next(d.value for d in at.dataframe if "overdue_ar_rc" in d.value.columns)
    worst = mart(app_env, "select customer_name from marts.dim_customers order by overdue_ar_rc desc limit 1")
    assert top["customer_name"].iloc[0] == worst["customer_name"][0]
    assert any("Data as of" in c.value for c in at.caption)


def test_overview_shows_the_expected_credit_loss_and_the_months_write_offs(app_env: Path) -> None:
    from core import formatting

    at = page("overview")
    assert_clean(at)
    bad_debt = mart(app_env, "select * from marts.fct_bad_debt_monthly order by month_start desc limit 1").row(
        0, named=True
    )
    shown = metrics(at)
    assert shown["Expected credit loss"] == formatting.money(bad_debt["expected_credit_loss_rc"], "USD")
    assert shown["Bad-debt ratio (12 months)"] == formatting.percent(bad_debt["bad_debt_ratio"], 2)
    ecl = mart(
        app_env,
        "select aging_bucket, expected_credit_loss_rc::double as rc, historical_loss_rate from "
        "marts.fct_expected_credit_loss where as_of_date = (select max(as_of_date) from marts.fct_expected_credit_loss) "
        "order by aging_bucket_order",
    )
    table = next(d.value for d in at.dataframe if "historical_loss_rate" in d.value.columns)
    assert table["aging_bucket"].tolist() == ecl["aging_bucket"].to_list()
    if ecl["historical_loss_rate"].null_count() == ecl.height:  # the world is younger than the outcome window
        assert any("No loss history yet" in i.value for i in at.info)
    month = bad_debt["month_start"].strftime("%B %Y")
    write_offs = mart(app_env, "select count(*) as n from marts.fct_write_offs")["n"][0]
    if write_offs == 0:
        assert any("No write-offs in the data" in i.value for i in at.info)
    else:
        assert shown[f"Written off in {month}"] == formatting.money(bad_debt["written_off_rc"], "USD")


def test_aging_buckets_reconcile_to_open_ar_and_filters_apply(app_env: Path) -> None:
    at = page("ar_aging")
    assert_clean(at)
    as_of = mart(app_env, "select max(as_of_date) as d from marts.fct_ar_aging")["d"][0]
    buckets = mart(
        app_env,
        "select aging_bucket, sum(open_balance_rc)::double as rc from marts.fct_ar_aging where as_of_date = ? group by 1",
        [as_of],
    )
    shown = metrics(at)
    assert shown["Open AR"] == money(buckets["rc"].sum())
    for bucket, amount in buckets.iter_rows():
        assert shown[bucket] == money(amount), bucket
    # By customer: the largest balances first, each row's buckets adding up to its total.
    by_customer = next(d.value for d in at.dataframe if "collector_name" in d.value.columns)
    largest = mart(
        app_env,
        "select customer_id, sum(open_balance_rc)::double as rc from marts.fct_ar_aging where as_of_date = ? "
        "group by 1 order by rc desc, customer_id limit 3",
        [as_of],
    )
    assert by_customer["customer_id"].head(3).tolist() == largest["customer_id"].to_list()
    assert by_customer["total_rc"].head(3).round(2).tolist() == largest["rc"].round(2).to_list()
    bucket_columns = [f"{bucket}_rc" for bucket in buckets["aging_bucket"] if f"{bucket}_rc" in by_customer.columns]
    assert bucket_columns, by_customer.columns
    assert (by_customer[bucket_columns].sum(axis=1) - by_customer["total_rc"]).abs().max() < 0.01
    # A past month-end and one segment: the total is the marts' for that date and segment.
    month_end = mart(app_env, "select max(as_of_date) as d from marts.fct_ar_aging where as_of_date < ?", [as_of])["d"][
        0
    ]
    at.selectbox[0].set_value(month_end)
    segment_box = next(m for m in at.multiselect if m.label == "Segment")
    segment_box.set_value(["smb"]).run()
    assert_clean(at)
    expected = mart(
        app_env,
        "select sum(a.open_balance_rc)::double as rc from marts.fct_ar_aging a join marts.dim_customers c using "
        "(customer_id) where a.as_of_date = ? and c.segment = 'smb'",
        [month_end],
    )["rc"][0]
    assert metrics(at)["Open AR"] == money(expected)
    csv = at.get("download_button")[0]
    assert csv.proto.label.startswith("Download")


def last_months(as_of: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """The first and last day of the `months` whole months ending with the month of `as_of`."""
    index = as_of.year * 12 + as_of.month - 1
    first = dt.date((index - months + 1) // 12, (index - months + 1) % 12 + 1, 1)
    after = dt.date((index + 1) // 12, (index + 1) % 12 + 1, 1)
    return first, after - dt.timedelta(days=1)


def stage_quantiles(data: Path, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Approval to ship by order month, straight from the orders with quantile_cont."""
    return mart(
        data,
        "select date_trunc('month', order_date)::date as m, count(days_approval_to_ship) as n, "
        "quantile_cont(days_approval_to_ship, 0.5) as median, quantile_cont(days_approval_to_ship, 0.9) as p90 "
        "from marts.fct_o2c_cycle_times where order_date between ? and ? "
        "and days_approval_to_ship is not null group by 1 order by 1",
        [start, end],
    )


def test_cycle_times_cash_forecast_and_data_health_show_the_marts(app_env: Path) -> None:
    at = page("cycle_times")
    assert_clean(at)
    variance = next(d.value for d in at.dataframe if "mean_variance_days" in d.value.columns)
    as_of = mart(app_env, "select max(as_of_date) as d from marts.fct_ar_aging")["d"][0]
    # The default period: the last 12 whole months, the as-of month included.
    start, end = last_months(as_of, 12)
    expected = mart(
        app_env,
        "select segment, avg(terms_variance_days) as v from marts.fct_o2c_cycle_times "
        "where order_date between ? and ? group by 1 order by 1",
        [start, end],
    )
    assert variance["mean_variance_days"].round(6).tolist() == expected["v"].round(6).to_list()
    # The first stage's monthly median and 90th percentile: exact quantiles of the mart's orders.
    stage = at.radio[0].value
    assert stage == "approval to ship"
    shown = next(d.value for d in at.dataframe if "median_days" in d.value.columns)
    quantiles = stage_quantiles(app_env, start, end)
    assert quantiles.height >= 6  # the world's 240 days: enough months to mean something
    assert [m.date() if hasattr(m, "date") else m for m in shown["order_month"].tolist()] == quantiles["m"].to_list()
    assert shown["n_orders"].tolist() == quantiles["n"].to_list()
    assert shown["median_days"].tolist() == quantiles["median"].to_list()
    assert shown["p90_days"].tolist() == quantiles["p90"].to_list()
    # Two whole months picked: exactly those months, all their orders.
    first, second = last_months(as_of, 3)[0], last_months(as_of, 2)[0]
    at.select_slider[0].set_value((first, second)).run()
    assert_clean(at)
    shown = next(d.value for d in at.dataframe if "median_days" in d.value.columns)
    quantiles = stage_quantiles(app_env, first, last_months(second, 1)[1])
    assert quantiles.height == 2
    assert shown["n_orders"].tolist() == quantiles["n"].to_list()
    assert shown["median_days"].tolist() == quantiles["median"].to_list()
    assert shown["p90_days"].tolist() == quantiles["p90"].to_list()

    at = page("cash_forecast")
    assert_clean(at)
    weekly = mart(app_env, "select * from forecasts.cash_forecast order by week")
    assert metrics(at)["Expected receipts, next 13 weeks"] == money(weekly["expected_collections_rc"].sum())
    assert metrics(at)["Next 4 weeks"] == money(weekly.head(4)["expected_collections_rc"].sum())

    at = page("data_health")
    assert_clean(at)
    meta = mart(app_env, "select check_results from _meta")
    checks = json.loads(meta["check_results"][0])
    assert metrics(at)["Checks in the build"] == str(len(checks))
    assert metrics(at)["Failed (blocking)"] == "0"
    assert any("data docs" in m.value for m in at.markdown)
    # Freshness: the verdicts the build's source_freshness check recorded, as published. The build
    # has just loaded every configured source, so each of their tables is fresh; the others are not
    # configured (neither fresh nor stale), and only the fresh ones have a check result.
    recorded = mart(app_env, "select source, entity, status from quality.source_freshness")
    shown = next(d.value for d in at.dataframe if "stale" in d.value.columns)
    assert sorted(zip(shown["source"], shown["entity"], shown["status"], strict=True)) == sorted(recorded.iter_rows())
    assert set(recorded["status"]) == {"pass", "not configured"}
    passed = {(s, e) for s, e, status in recorded.iter_rows() if status == "pass"}
    checked = {tuple(c["asset"].split("/")) for c in checks if c["check"] == "source_freshness"}
    assert checked == passed
    assert all(c["passed"] for c in checks if c["check"] == "source_freshness")
    assert metrics(at)["Stale source tables"] == "0"


def test_cycle_times_shows_order_and_invoice_quality_from_the_marts(app_env: Path) -> None:
    """The quality tiles are the latest month of fct_order_quality_monthly in the default period
    (the last 12 whole months), the monthly table is the mart's, and the processing-time distribution
    counts the shipped orders of fct_order_fulfilment."""
    at = page("cycle_times")
    assert_clean(at)
    as_of = mart(app_env, "select max(as_of_date) as d from marts.fct_ar_aging")["d"][0]
    start, end = last_months(as_of, 12)
    monthly = mart(
        app_env,
        "select * from marts.fct_order_quality_monthly where month_start between ? and ? order by month_start",
        [start, end],
    )
    latest = monthly.row(-1, named=True)
    shown = metrics(at)
    assert shown["OTIF"] == f"{latest['otif_pct']:,.1f}%"
    assert shown["Perfect orders"] == f"{latest['perfect_order_pct']:,.1f}%"
    assert shown["Invoice accuracy"] == f"{latest['invoice_accuracy_pct']:,.1f}%"
    assert shown["Order to ship, median"] == f"{latest['days_to_ship_p50']:,.1f} days"
    assert shown["Order to ship, p90"] == f"{latest['days_to_ship_p90']:,.1f} days"
    assert 0 < latest["otif_pct"] < 100 and 0 < latest["invoice_accuracy_pct"] <= 100
    table = next(d.value for d in at.dataframe if "invoice_accuracy_pct" in d.value.columns)
    assert table["otif_pct"].tolist() == monthly["otif_pct"].to_list()
    assert table["invoice_accuracy_pct"].tolist() == monthly["invoice_accuracy_pct"].to_list()
    shipped = mart(
        app_env,
        "select count(days_order_to_first_shipment) as n from marts.fct_order_fulfilment "
        "where order_date between ? and ?",
        [start, end],
    )["n"][0]
    distribution = json.loads(at.get("plotly_chart")[-1].proto.spec)
    first = next(trace for trace in distribution["data"] if trace["name"] == "Orders, to first shipment")
    assert distribution["layout"]["xaxis"]["title"]["text"] == "Order to shipment (days)"
    counts = first["y"]
    if isinstance(counts, dict):  # plotly writes arrays as base64 typed arrays
        counts = np.frombuffer(base64.b64decode(counts["bdata"]), dtype=counts["dtype"]).tolist()
    assert sum(counts) == shipped
    assert not any("Not available" in i.value for i in at.info)


def test_customers_and_customer_360_match_the_marts(app_env: Path) -> None:
    at = page("customers")
    assert_clean(at)
    table = at.dataframe[-1].value
    customers = mart(app_env, "select customer_id, overdue_ar_rc from marts.dim_customers order by overdue_ar_rc desc")
    assert len(table) == customers.height
    assert table["customer_id"].iloc[0] == customers["customer_id"][0]

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    chosen = customers["customer_id"][0]
    at.query_params["customer"] = chosen
    at.switch_page("app_pages/customer_360.py").run()
    assert_clean(at)
    row = mart(app_env, "select open_ar_rc, overdue_ar_rc from marts.dim_customers where customer_id = ?", [chosen])
    assert metrics(at)["Open AR"] == money(row["open_ar_rc"][0])
    assert metrics(at)["Overdue AR"] == money(row["overdue_ar_rc"][0])
    invoices = next(d.value for d in at.dataframe if "invoice_number" in d.value.columns)
    count = mart(app_env, "select count(*) as n from marts.fct_invoices where customer_id = ?", [chosen])["n"][0]
    assert len(invoices) == count


# A column name left as it is in the marts: lower-case words joined by underscores.
SNAKE_CASE = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")
# The pages whose tables and tiles this module checks for labels (the others have their own tests).
LABELLED_PAGES = ("cycle_times", "cash_forecast", "customers", "customer_360", "unapplied_cash")


@pytest.mark.parametrize("name", LABELLED_PAGES)
def test_every_table_has_human_headers_fixed_decimals_and_an_excel_download(app_env: Path, name: str) -> None:
    at = page(name)
    assert_clean(at)
    assert at.dataframe, name
    for table in at.dataframe:
        assert table.proto.placeholder == "–", name  # a missing value, not the grid's "None"
        config = json.loads(table.proto.columns)
        for column in table.value.columns:
            header = config[column]["label"]
            assert header and not SNAKE_CASE.search(header), (name, column, header)
            shown_as = config[column].get("type_config", {})
            if column.endswith("_rc"):  # an amount in the reporting currency: its code, and cents
                assert header.endswith("(USD)") and shown_as["format"] == "%,.2f", (name, column, config[column])
            if column.endswith("_date"):
                assert shown_as["format"] == "YYYY-MM-DD", (name, column, config[column])
            if column.startswith("n_"):  # a count: whole, whatever type DuckDB gave it
                assert shown_as["format"] == "%,d", (name, column, config[column])
            if column.endswith(("_pct", "_days")):  # whole when stored whole, else one decimal
                assert shown_as["format"] in ("%,d", "%,.1f"), (name, column, config[column])
    buttons = [b for b in at.get("download_button") if b.proto.label == "Download Excel"]
    assert len(buttons) == len(at.dataframe), name
    # Charts: axis titles, series names and what hovering shows are words too.
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        words = [str(t.get("name", "")) for t in spec["data"]] + [str(t.get("hovertemplate", "")) for t in spec["data"]]
        for axis in ("xaxis", "yaxis"):
            title = spec["layout"].get(axis, {}).get("title") or {}
            words.append(str(title.get("text", "") if isinstance(title, dict) else title))
        assert not [w for w in words if SNAKE_CASE.search(w)], (name, words)
    for tile in at.metric:
        assert not SNAKE_CASE.search(tile.label) and "None" not in tile.value and "nan" not in tile.value, tile


def read_xlsx(data: bytes) -> tuple[list[list[object]], int]:
    """The first sheet of an .xlsx file as rows of cell values (text, numbers, None), read from its
    XML, and how many cells hold a formula."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    book = zipfile.ZipFile(io.BytesIO(data))
    strings = []
    if "xl/sharedStrings.xml" in book.namelist():
        for item in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).findall("m:si", ns):
            strings.append("".join(t.text or "" for t in item.iter(f"{{{ns['m']}}}t")))
    sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    formulas = len(sheet.findall(".//m:f", ns))
    rows: list[list[object]] = []
    for row in sheet.findall("m:sheetData/m:row", ns):
        cells: dict[int, object] = {}
        for cell in row.findall("m:c", ns):
            letters = re.match(r"[A-Z]+", cell.get("r")).group()
            index = 0
            for letter in letters:
                index = index * 26 + ord(letter) - ord("A") + 1
            value = cell.find("m:v", ns)
            kind = cell.get("t")
            if value is None:
                cells[index - 1] = None
            elif kind == "s":
                cells[index - 1] = strings[int(value.text)]
            elif kind in ("str", "inlineStr", "e"):
                cells[index - 1] = value.text
            elif kind == "b":
                cells[index - 1] = value.text == "1"
            else:
                cells[index - 1] = float(value.text)
        width = max(cells, default=-1) + 1
        rows.append([cells.get(i) for i in range(width)])
    return rows, formulas


def excel_day(day: dt.date) -> float:
    """A date as Excel stores it: days since 1899-12-30."""
    return float((day - dt.date(1899, 12, 30)).days)


def test_the_excel_download_is_the_table_to_the_cent_with_human_headers_and_no_formulas(app_env: Path) -> None:
    from dashboards import ui

    # One customer's invoices, amounts as the marts' DECIMALs, and text a spreadsheet would take
    # for a formula.
    invoices = mart(
        app_env,
        "select invoice_number, invoice_date, open_balance_rc, days_past_due from marts.fct_invoices "
        "where customer_id = (select customer_id from marts.dim_customers order by open_ar_rc desc limit 1) "
        "order by invoice_date, invoice_number",
    )
    assert invoices.height >= 3 and isinstance(invoices.schema["open_balance_rc"], pl.Decimal)
    hostile = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-3+4", "@SUM(A1:A9)"]
    frame = invoices.with_columns(
        pl.Series("remittance_info", (hostile * invoices.height)[: invoices.height], dtype=pl.String)
    )
    rows, formulas = read_xlsx(ui.excel(frame))
    assert formulas == 0
    assert rows[0] == ["Invoice", "Invoice date", "Open balance (USD)", "Days past due", "Remittance info"]
    body = rows[1:]
    assert len(body) == invoices.height
    for cells, row in zip(body, frame.iter_rows(named=True), strict=True):
        assert cells[0] == row["invoice_number"]
        assert cells[1] == excel_day(row["invoice_date"])
        # to the cent: the number Excel holds is the mart's DECIMAL
        assert Decimal(str(cells[2])).quantize(Decimal("0.01")) == row["open_balance_rc"]
        assert cells[3] == (None if row["days_past_due"] is None else float(row["days_past_due"]))
        # text as typed, never evaluated; a formula-like one quoted (core/formatting.spreadsheet_text)
        assert cells[4] == "'" + row["remittance_info"]
    total = mart(
        app_env,
        "select sum(open_balance_rc) as rc from marts.fct_invoices where customer_id = "
        "(select customer_id from marts.dim_customers order by open_ar_rc desc limit 1)",
    )["rc"][0]
    assert Decimal(str(round(sum(cells[2] or 0 for cells in body), 2))).quantize(Decimal("0.01")) == total


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_filter_values_are_only_text(app_env: Path, hostile: str) -> None:
    before = mart(app_env, "select count(*) as n from marts.dim_customers")["n"][0]
    at = page("customers")
    at.text_input[0].set_value(hostile).run()
    assert_clean(at)
    assert any("No results" in i.value for i in at.info)
    # An unknown customer id in the link: the page falls back to the first customer.
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.query_params["customer"] = hostile
    at.switch_page("app_pages/customer_360.py").run()
    assert_clean(at)
    assert mart(app_env, "select count(*) as n from marts.dim_customers")["n"][0] == before


def test_sort_columns_pass_an_allow_list() -> None:
    from dashboards import db

    assert db.allowed("Open AR", {"Open AR": "open_ar_rc"}) == "open_ar_rc"
    with pytest.raises(ValueError, match="not an allowed choice"):
        db.allowed("open_ar_rc; drop table x", {"Open AR": "open_ar_rc"})


def test_the_connection_cannot_reach_files_or_settings(app_env: Path) -> None:
    from dashboards import db

    cursor = db.connection()
    try:
        for statement in (
            "select * from read_csv('/etc/passwd')",
            "copy (select 1) to '/tmp/o2c-should-not-exist.csv'",
            "attach '/tmp/o2c-other.duckdb' as other",
            "set enable_external_access = true",
            "create table marts.x as select 1",
            "detach serving",
        ):
            with pytest.raises(duckdb.Error):
                cursor.execute(statement).fetchall()
    finally:
        cursor.close()
    assert not Path("/tmp/o2c-should-not-exist.csv").exists()


def test_worklist_records_a_promise_in_the_ops_store(app_env: Path) -> None:
    at = page("worklist")
    assert_clean(at)
    collector = at.selectbox[0].value
    expected = mart(
        app_env,
        "select count(*) as n from marts.fct_ar_aging a join marts.dim_customers c using (customer_id) "
        "where a.as_of_date = (select max(as_of_date) from marts.fct_ar_aging) and c.collector_id = ? "
        "and a.days_past_due > -7",
        [collector],
    )["n"][0]
    assert metrics(at)["Items"] == str(expected)
    promises = mart(
        app_env,
        "select count(promised_date) as promised, count(*) filter (where promise_status = 'broken') as broken "
        "from marts.fct_worklist_items where collector_id = ?",
        [collector],
    ).row(0, named=True)
    next(s for s in at.selectbox if s.label == "Action").set_value("promise_to_pay")
    next(d for d in at.date_input if d.label == "Promised date").set_value(dt.date.today() + dt.timedelta(days=10))
    next(b for b in at.button if b.label == "Save action").click().run()
    assert_clean(at)
    assert any("Saved: promise to pay" in m.value for m in at.success)
    from core import ops_store
    from core.settings import get_settings

    stored = ops_store.actions(get_settings().ops())
    assert stored.height == 1 and stored["action_type"][0] == "promise_to_pay"
    assert stored["collector_id"][0] == collector
    # Not in the warehouse yet: listed apart as saved, while the tiles stay the mart's.
    assert metrics(at)["Promises on record"] == str(promises["promised"])
    assert metrics(at)["Broken promises"] == str(promises["broken"])
    saved = next(d.value for d in at.dataframe if "action_id" in d.value.columns)
    assert saved["action_id"].tolist() == stored["action_id"].to_list()
    # A promise without a date is refused with the reason, and nothing is stored.
    next(s for s in at.selectbox if s.label == "Action").set_value("promise_to_pay")
    next(b for b in at.button if b.label == "Save action").click().run()
    assert any("promised date" in e.value for e in at.error)
    assert ops_store.actions(get_settings().ops()).height == 1


def test_no_serving_file_says_how_to_build_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("O2C_SERVING_PATH", raising=False)
    for name in PAGES:
        at = page(name)
        assert not at.exception
        assert any("make demo" in e.value and "o2c run" in e.value for e in at.error), name


# ---- a real browser against `streamlit run` ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_dashboards(tmp_path: Path, port: int | None = None) -> Iterator[str]:
    """`o2c dashboard` on `port` (default a free one), with this process's environment; its URL
    once healthy."""
    port = port or _free_port()
    log_path = tmp_path / "streamlit.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "dashboard", "--port", str(port)],
            env={**os.environ},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://localhost:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            process.kill()
            raise AssertionError(log_path.read_text()[-3000:])
        try:
            yield url
        finally:
            os.killpg(process.pid, 15)
            process.wait(timeout=20)


@pytest.fixture
def server(app_env: Path, tmp_path: Path) -> Iterator[str]:
    with serve_dashboards(tmp_path) as url:
        yield url


def _wait_for_app(browser_page, text: str) -> None:
    browser_page.get_by_text(text, exact=False).first.wait_for(timeout=30_000)
    browser_page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)


def test_every_page_in_a_real_browser_and_a_promise_persisted(app_env: Path, server: str) -> None:
    from playwright.sync_api import sync_playwright

    shots = REPO_ROOT / "data" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            tab = browser.new_page(viewport={"width": 1500, "height": 1100})
            for path, title in PAGE_TITLES.items():
                tab.goto(f"{server}/{path}")
                _wait_for_app(tab, title)
                assert tab.locator('[data-testid="stException"]').count() == 0, path
                tab.screenshot(path=str(shots / f"{path or 'overview'}.png"), full_page=True)
                if path == "":  # the bad-debt section beside the aging renders (below the title: wait for it)
                    tab.get_by_text("Expected credit loss by aging bucket", exact=False).first.wait_for(timeout=30_000)
                    assert tab.get_by_text("Expected credit loss by aging bucket", exact=False).count() >= 1

            # The collector works the worklist: a promise to pay on the top item.
            tab.goto(f"{server}/worklist")
            _wait_for_app(tab, "Log an action on")
            form = tab.locator('[data-testid="stForm"]')
            # the whole form in view, so the dropdown opens on screen
            form.locator('[data-testid="stFormSubmitButton"]').scroll_into_view_if_needed()
            form.locator('[data-testid="stSelectbox"]').first.click()
            tab.get_by_role("option", name="promise to pay").click()
            # The date field is three spin buttons (year, month, day) that advance as digits are typed.
            year = tab.get_by_role("spinbutton", name="year, Promised date")
            year.click()
            year.press_sequentially((dt.date.today() + dt.timedelta(days=14)).strftime("%Y%m%d"), delay=50)
            tab.keyboard.press("Tab")
            tab.get_by_role("button", name="Save action").click()
            _wait_for_app(tab, "Saved: promise to pay")
            tab.screenshot(path=str(shots / "worklist_promise_saved.png"), full_page=True)
        finally:
            browser.close()

    url = os.environ["O2C_OPS_URL"]
    ops_file = Path(url.removeprefix("sqlite:///"))
    con = sqlite3.connect(ops_file)
    try:
        rows = con.execute("select action_type, promised_date from collection_actions").fetchall()
    finally:
        con.close()
    assert len(rows) == 1
    assert rows[0][0] == "promise_to_pay"
    assert rows[0][1] == (dt.date.today() + dt.timedelta(days=14)).isoformat()


def test_the_app_keeps_serving_while_the_serving_file_is_swapped(app_env: Path, server: str) -> None:
    from playwright.sync_api import sync_playwright

    from orchestration.serving import publish

    warehouse = app_env / "warehouse" / "warehouse.duckdb"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            tab = browser.new_page()
            for build in ("swap-1", "swap-2", "swap-3"):
                tab.goto(f"{server}/")
                _wait_for_app(tab, "Order-to-cash overview")
                publish(warehouse, serving(app_env), build_id=build, checks=[])  # what a pipeline run does
                tab.goto(f"{server}/ar_aging")
                _wait_for_app(tab, "AR aging")
                body = tab.locator("body").inner_text()
                assert "lock" not in body.lower() and "Exception" not in body
            tab.goto(f"{server}/")
            _wait_for_app(tab, "swap-3")  # the page shows the build it now reads
        finally:
            browser.close()


def test_actions_reach_the_warehouse_on_the_next_run(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Promises logged in the worklist are ingested (source ops), staged, shown with their status
    in fct_collection_actions; the latest one counts on the worklist (fct_worklist_items and the
    page) and overrides the invoice's predicted pay date. An action saved after the run is listed
    apart on the page, counted from the next run."""
    import shutil

    from core import ops_store
    from orchestration.serving import publish

    data = tmp_path / "data"
    shutil.copytree(built, data)
    as_of = mart(data, "select max(as_of_date) as d from marts.fct_ar_aging")["d"][0]
    item = mart(
        data,
        "select invoice_id, customer_id, coalesce(collector_id, 'unassigned') as collector_id "
        "from marts.fct_ar_aging join marts.dim_customers using (customer_id) "
        "where as_of_date = ? order by days_past_due desc, invoice_id limit 1",
        [as_of],
    ).row(0, named=True)
    url = f"sqlite:///{data / 'ops' / 'ops.sqlite'}"  # the default ops store of that data directory

    def promise(action_date: dt.date, promised: dt.date, amount: str) -> str:
        return ops_store.record(
            url,
            ops_store.Action(
                customer_id=item["customer_id"],
                collector_id=item["collector_id"],
                action_type="promise_to_pay",
                action_date=action_date,
                invoice_id=item["invoice_id"],
                promised_date=promised,
                promised_amount=Decimal(amount),
            ),
        )

    # An older promise whose date has passed (broken), then a newer one (pending): the latest counts.
    promise(as_of - dt.timedelta(days=20), as_of - dt.timedelta(days=10), "50.00")
    promised = as_of + dt.timedelta(days=9)
    promise(as_of, promised, "100.00")
    o2c(data, "ingest", "--source", "ops")
    o2c(data, "build", "--select", "stg_ops__collection_actions+")
    o2c(data, "forecast")
    warehouse = data / "warehouse" / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        actions = con.sql(
            "select invoice_id, action_type, promise_status, is_latest_promise from marts.fct_collection_actions "
            "order by action_date"
        ).fetchall()
        on_worklist = con.sql(
            "select last_action, last_action_date, promised_date, promised_amount::double, promise_status "
            "from marts.fct_worklist_items where invoice_id = ?",
            params=[item["invoice_id"]],
        ).fetchall()
        predicted = con.sql(
            "select has_promise, baseline_date from forecasts.pay_date_predictions where invoice_id = ?",
            params=[item["invoice_id"]],
        ).fetchall()
    finally:
        con.close()
    assert actions == [
        (item["invoice_id"], "promise_to_pay", "broken", False),
        (item["invoice_id"], "promise_to_pay", "pending", True),
    ]
    assert on_worklist == [("promise_to_pay", as_of, promised, 100.0, "pending")]
    assert predicted == [(1, promised)]

    # The page on that build, with a call saved after it: the item shows the warehouse's latest
    # promise; the call is listed apart and changes nothing until the next run.
    publish(warehouse, serving(data), "promises", [])
    call = ops_store.record(
        url,
        ops_store.Action(
            customer_id=item["customer_id"],
            collector_id=item["collector_id"],
            action_type="call",
            action_date=as_of + dt.timedelta(days=1),
            invoice_id=item["invoice_id"],
        ),
    )
    monkeypatch.setenv("O2C_DATA_DIR", str(data))
    monkeypatch.delenv("O2C_OPS_URL", raising=False)
    monkeypatch.delenv("O2C_SERVING_PATH", raising=False)
    monkeypatch.delenv("O2C_WAREHOUSE_PATH", raising=False)
    at = page("worklist")
    at.selectbox[0].set_value(item["collector_id"]).run()
    at.toggle[0].set_value(True).run()  # every item, not only today's top N (the item may rank lower)
    assert_clean(at)
    table = next(d.value for d in at.dataframe if "promise_status" in d.value.columns)
    row = table[table["invoice_id"] == item["invoice_id"]].iloc[0]
    assert (row["last_action"], row["promise_status"], row["promised_amount"]) == ("promise_to_pay", "pending", 100.0)
    broken = mart(
        data,
        "select count(*) as n from marts.fct_worklist_items where collector_id = ? and promise_status = 'broken'",
        [item["collector_id"]],
    )["n"][0]
    assert metrics(at)["Broken promises"] == str(broken)
    saved = next(d.value for d in at.dataframe if "action_id" in d.value.columns)
    assert saved["action_id"].tolist() == [call]


# ---- unapplied cash: the page, and manual application through the browser to the warehouse ----


def test_unapplied_cash_lists_the_oldest_receipts_up_to_its_limit(app_env: Path, monkeypatch) -> None:
    """At scale l 316,039 receipts are unapplied: the page lists the oldest, up to its limit (here
    down to the first one with suggestions), and says how many there are; each listed receipt's
    count of suggestions is the mart's."""
    from dashboards import db

    ranked = mart(
        app_env,
        "select cash.payment_id, count(s.payment_id) as suggestions from marts.fct_unapplied_cash as cash "
        "left join marts.fct_cash_application_suggestions as s using (payment_id) "
        "group by all order by any_value(cash.days_unapplied) desc, any_value(cash.unapplied_amount_rc) desc, "
        "cash.payment_id",
    )
    with_suggestions = (ranked["suggestions"] > 0).arg_true()
    assert with_suggestions.len() > 0  # the world has suggested matches
    limit = max(3, with_suggestions[0] + 1)
    assert ranked.height > limit
    monkeypatch.setitem(db.ROW_LIMITS, "unapplied_receipts", limit)
    at = page("unapplied_cash")
    assert_clean(at)
    oldest = ranked.head(limit)
    receipts = next(d.value for d in at.dataframe if "days_unapplied" in d.value.columns)
    assert receipts["payment_id"].tolist() == oldest["payment_id"].to_list()
    assert receipts["suggestions"].tolist() == oldest["suggestions"].to_list()
    assert oldest["suggestions"].sum() > 0
    caption = f"The {limit:,} oldest of {ranked.height:,}: find any other by payment id below."
    assert caption in [c.value for c in at.caption]


def test_unapplied_cash_page_shows_the_marts_and_records_the_signed_in_user(app_env: Path) -> None:
    from core import ops_store
    from core.settings import get_settings

    at = page("unapplied_cash")
    assert_clean(at)
    totals = mart(
        app_env,
        "select status, count(*) as n, sum(unapplied_amount_rc)::double as rc, max(days_unapplied) as d "
        "from marts.fct_unapplied_cash group by 1",
    )
    by_status = {r["status"]: r for r in totals.iter_rows(named=True)}
    assert "on account" in by_status  # the world has cash on account to show
    shown = metrics(at)
    assert shown["On account"] == money(by_status["on account"]["rc"])
    assert shown["Unidentified"] == money(by_status.get("unidentified", {"rc": 0})["rc"])
    assert shown["Receipts unapplied"] == f"{totals['n'].sum():,}"
    assert shown["Oldest"] == f"{totals['d'].max():,} days"
    receipts = next(d.value for d in at.dataframe if "days_unapplied" in d.value.columns)
    assert len(receipts) == totals["n"].sum()
    # Net AR on the overview: gross AR less the cash on account, as of the latest month.
    latest = mart(app_env, "select * from marts.fct_ar_kpis_monthly order by month_start desc limit 1").row(
        0, named=True
    )
    assert float(latest["unapplied_on_account_rc"]) == pytest.approx(by_status["on account"]["rc"], abs=0.01)
    assert latest["open_ar_net_rc"] == latest["open_ar_rc"] - latest["unapplied_on_account_rc"]
    # Applied to its suggestion, the row names the signed-in user (the tests' CFO, tests/conftest.py):
    # nobody types a name.
    suggested = mart(
        app_env,
        "select payment_id from marts.fct_cash_application_suggestions order by match_confidence desc, payment_id",
    )["payment_id"][0]
    assert ops_store.manual_applications(get_settings().ops()).height == 0
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.query_params["payment"] = suggested
    at.switch_page("app_pages/unapplied_cash.py").run()
    next(b for b in at.button if b.label.startswith("Apply")).click().run()
    assert_clean(at)
    stored = ops_store.manual_applications(get_settings().ops())
    assert stored.select("payment_id", "entered_by").rows() == [(suggested, "test-cfo")]


def _apply_preselected_suggestion(tab: Page, url: str, payment_id: str, note: str) -> None:
    """In the Unapplied cash page, apply the receipt to the suggestion the form preselects."""
    tab.goto(f"{url}/unapplied_cash?payment={payment_id}")
    _wait_for_app(tab, "Apply this receipt")
    form = tab.locator('[data-testid="stForm"]').first
    form.get_by_label("Note").fill(note)
    tab.get_by_role("button", name="Apply (takes effect on the next run)").click()
    _wait_for_app(tab, "Saved: apply")


def _reverse_first_application(tab: Page, url: str, payment_id: str) -> None:
    """Reverse the application the reversal form lists first (the marts then say which it was)."""
    # Applied in full, the receipt has left the unapplied list: its link still reaches it.
    tab.goto(f"{url}/unapplied_cash?payment={payment_id}")
    _wait_for_app(tab, "Applied in this build")
    _wait_for_app(tab, "Audit trail")  # its table is drawn on a canvas: its rows are checked in the mart
    tab.get_by_role("button", name="Reverse (takes effect on the next run)").click()
    _wait_for_app(tab, "Saved: reverse")


def _manual_cash_applications(ops_file: Path) -> list[tuple]:
    """The rows the page wrote to the ops store, read straight from its SQLite file."""
    con = sqlite3.connect(ops_file)
    try:
        return con.execute(
            "select action, payment_id, invoice_id, applied_amount, entered_by, note, updated_at "
            "from manual_cash_applications"
        ).fetchall()
    finally:
        con.close()


def test_a_suggested_match_applied_and_reversed_in_the_browser_reaches_the_warehouse(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AR clerk applies a receipt to its suggested invoice in a real browser: one row in the
    ops store with who (the signed-in user, here the tests' CFO) and when; the next build applies it (method 'manual', audit 'applied').
    Published, the clerk reverses it: the next build takes it back (audit 'reversed')."""
    import shutil

    from playwright.sync_api import sync_playwright

    from orchestration.serving import publish

    data = tmp_path / "data"  # a copy: the shared world stays as it was built
    shutil.copytree(built, data)
    ops_file = data / "ops" / "ops.sqlite"  # the default ops store of that data directory
    monkeypatch.setenv("O2C_DATA_DIR", str(data))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{ops_file}")
    monkeypatch.delenv("O2C_SERVING_PATH", raising=False)
    monkeypatch.delenv("O2C_WAREHOUSE_PATH", raising=False)
    # The page's first suggestion (it lists them in this order and preselects the first) of the
    # receipt with the most confident one.
    suggestion = mart(
        data,
        "select s.payment_id, s.invoice_id, s.invoice_number, s.suggested_amount::double as amount "
        "from marts.fct_cash_application_suggestions s "
        "where s.payment_id = (select payment_id from marts.fct_cash_application_suggestions "
        "order by match_confidence desc, payment_id limit 1) "
        "order by s.suggestion_rank, s.match_confidence desc, s.invoice_id limit 1",
    ).row(0, named=True)
    payment_id, invoice_id = suggestion["payment_id"], suggestion["invoice_id"]
    warehouse = data / "warehouse" / "warehouse.duckdb"

    def rebuild() -> None:
        o2c(data, "ingest", "--source", "ops")
        o2c(data, "build", "--select", "stg_ops__manual_cash_applications+")

    def in_warehouse(sql: str) -> list[tuple]:
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            return con.sql(sql, params=[payment_id, invoice_id]).fetchall()
        finally:
            con.close()

    with serve_dashboards(tmp_path) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            tab = browser.new_page(viewport={"width": 1500, "height": 1400})
            _apply_preselected_suggestion(tab, url, payment_id, "remittance by phone")

            rows = _manual_cash_applications(ops_file)
            assert len(rows) == 1
            action, paid, invoice, amount, who, note, when = rows[0]
            assert (action, paid, invoice, who, note) == (
                "apply",
                payment_id,
                invoice_id,
                "test-cfo",
                "remittance by phone",
            )
            assert float(amount) == pytest.approx(suggestion["amount"], abs=0.01)
            assert when is not None

            rebuild()
            applied = in_warehouse(
                "select match_method, applied_amount::double from marts.fct_cash_applications "
                "where payment_id = ? and invoice_id = ?"
            )
            assert applied == [("manual", pytest.approx(suggestion["amount"], abs=0.01))]
            audit = in_warehouse(
                "select outcome, entered_by, amount_applied::double from marts.fct_cash_application_audit "
                "where payment_id = ? and invoice_id = ?"
            )
            assert audit == [("applied", "test-cfo", pytest.approx(suggestion["amount"], abs=0.01))]

            # What the next run publishes; the clerk takes the application back.
            publish(warehouse, serving(data), build_id="applied", checks=[])
            _reverse_first_application(tab, url, payment_id)
        finally:
            browser.close()

    rebuild()
    assert in_warehouse("select 1 from marts.fct_cash_applications where payment_id = ? and invoice_id = ?") == []
    audit = in_warehouse(
        "select action, outcome, entered_by, outcome_reason from marts.fct_cash_application_audit "
        "where payment_id = ? and invoice_id = ? order by entered_at"
    )
    assert audit[0][:3] == ("apply", "not applied", "test-cfo") and audit[0][3].startswith("reversed on")
    assert audit[1][:3] == ("reverse", "reversed", "test-cfo")
