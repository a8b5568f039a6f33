"""The dashboards on a company's data that lacks optional entities: every page renders, says
"Not available: your data has no …" where a part is missing, and shows right what it can.

Each world is the simulated one's serving file with rows deleted (never tables dropped: dbt
builds every mart even without its source entity) and optional customer columns set to null:
- empty: every mart, forecast and data-quality table has zero rows;
- invoices only: customers and invoices (with their aging and AR KPIs) and nothing else, no
  collector, segment, region, country or credit limit on any customer;
- no orders: everything but sales orders (and the cycle times and lifetime values built on
  them), customers without segment or region.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.settings import REPO_ROOT
from tests.test_dashboards import (
    PAGE_TITLES,
    PAGES,
    assert_clean,
    mart,
    metrics,
    money,
    page,
    serve_dashboards,
    serving,
)

APP = REPO_ROOT / "dashboards" / "streamlit_app.py"
CHROMIUM = "/usr/bin/chromium"

# The notes, word for word as a user reads them.
NO = {
    "customers": "Not available: your data has no customers (the `customers` entity, e.g. `customers.csv`).",
    "invoices": "Not available: your data has no invoices (the `invoices` entity, e.g. `invoices.csv`).",
    "payments": "Not available: your data has no payments (the `payments` entity, e.g. `payments.csv`, or bank "
    "statement files).",
    "orders": "Not available: your data has no sales orders (the `sales_orders` entity, e.g. `sales_orders.csv`).",
    "disputes": "Not available: your data has no disputes (the `disputes` entity, e.g. `disputes.csv`).",
    "collectors": "Not available: your data has no collectors (the `collectors` entity and the customers' "
    "`collector_id` column).",
    "clv": "Not available: your data has no repeat orders (lifetime value is fitted on customers' repeat orders: "
    "the `sales_orders` entity).",
    "cash_forecast": "Not available: your data has no cash forecast (`o2c run` makes it from the `invoices` and "
    "`payments` entities).",
    "revenue_forecast": "Not available: your data has no revenue forecast (`o2c run` makes it from the `invoices` "
    "and `sales_orders` entities).",
    "dq_results": "Not available: your data has no data-quality results (`o2c run` checks each load of the source "
    "entities).",
    "credit_limit": "Not available: your data has no credit limits (the customers' `credit_limit` column).",
}

OPTIONAL_MARTS = (
    "marts.fct_payments",
    "marts.fct_receipts_weekly",
    "marts.fct_cash_applications",
    "marts.fct_orders",
    "marts.fct_o2c_cycle_times",
    "marts.fct_disputes",
    "marts.fct_collection_actions",
    "marts.fct_customer_lifetime_value",
    "marts.fct_unapplied_cash",
    "marts.fct_cash_application_suggestions",
    "marts.fct_cash_application_audit",
    "marts.fct_order_fulfilment",
    "marts.fct_order_quality_monthly",
    "marts.fct_write_offs",
    "marts.fct_write_off_proposals",
)


def degrade(world: Path, target: Path, statements: list[str]) -> Path:
    """A data directory whose serving file is the world's with `statements` applied."""
    serving(target).parent.mkdir(parents=True)
    shutil.copyfile(serving(world), serving(target))
    con = duckdb.connect(str(serving(target)))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
    return target


def tables(world: Path, *schemas: str) -> list[str]:
    con = duckdb.connect(str(serving(world)), read_only=True)
    try:
        rows = con.sql(
            "select schema_name || '.' || table_name from duckdb_tables() where list_contains($schemas, schema_name) "
            "order by 1",
            params={"schemas": list(schemas)},
        ).fetchall()
    finally:
        con.close()
    return [name for (name,) in rows]


@pytest.fixture(scope="module")
def empty_world(dashboard_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    every = tables(dashboard_world, "marts", "forecasts", "quality")
    return degrade(dashboard_world, tmp_path_factory.mktemp("empty"), [f"delete from {t}" for t in every])


@pytest.fixture(scope="module")
def invoices_world(dashboard_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    forecasts = tables(dashboard_world, "forecasts")
    return degrade(
        dashboard_world,
        tmp_path_factory.mktemp("invoices_only"),
        [f"delete from {t}" for t in (*OPTIONAL_MARTS, *forecasts, "quality.dq_results")]
        + [
            "update marts.dim_customers set collector_id = null, collector_name = null, collector_email = null, "
            "segment = null, region = null, country = null, credit_limit = null, weighted_days_to_pay = null, "
            "weighted_days_late = null, pct_paid_late = null",
            "update marts.fct_customer_credit_exposure set credit_limit = null",
            # the collector groups and their day's figures as a build without collectors makes them
            "update marts.dim_customers set collector_group = 'unassigned', collector_group_name = 'unassigned', "
            "is_unassigned = true",
            "delete from marts.fct_collector_daily where collector_id <> (select min(collector_id) "
            "from marts.fct_collector_daily)",
            "update marts.fct_collector_daily set collector_id = 'unassigned', collector_name = 'unassigned', "
            "collector_email = null, is_unassigned = true, n_customers = (select count(*) from marts.dim_customers), "
            "worklist_items = (select count(*) from marts.fct_worklist_items), "
            "worklist_open_rc = (select sum(open_balance_rc) from marts.fct_worklist_items)",
            # the worklist as a build without collectors, disputes or payment history makes it
            "update marts.fct_worklist_items set collector_id = 'unassigned', is_disputed = false, pct_paid_late = 0, "
            "recovery_likelihood = 1, expected_recoverable_rc = open_balance_rc, "
            "priority = open_balance_rc::double * urgency",
            "update marts.fct_worklist_items as w set priority_rank = r.n from (select invoice_id, row_number() "
            "over (order by priority desc, open_balance_rc desc, invoice_id) as n from marts.fct_worklist_items) as r "
            "where w.invoice_id = r.invoice_id",
        ],
    )


@pytest.fixture(scope="module")
def no_orders_world(dashboard_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return degrade(
        dashboard_world,
        tmp_path_factory.mktemp("no_orders"),
        [
            "delete from marts.fct_orders",
            "delete from marts.fct_o2c_cycle_times",
            "update marts.dim_customers set segment = null, region = null",
        ],
    )


@pytest.fixture(scope="module")
def no_payments_world(dashboard_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The forecasts stay: the cash forecast from open items exists without any payment history.
    return degrade(
        dashboard_world,
        tmp_path_factory.mktemp("no_payments"),
        [
            "delete from marts.fct_payments",
            "delete from marts.fct_receipts_weekly",
            "delete from marts.fct_cash_applications",
        ],
    )


def use(world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("O2C_DATA_DIR", str(world))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    monkeypatch.delenv("O2C_SERVING_PATH", raising=False)
    monkeypatch.delenv("O2C_WAREHOUSE_PATH", raising=False)


def notes(at: AppTest) -> list[str]:
    return [i.value for i in at.info] + [c.value for c in at.caption]


def says(at: AppTest, note: str, section: str | None = None) -> bool:
    """The page shows `note`, as it stands or, for a note about one section, after **section** —."""
    return (f"**{section}** — {note}" if section else note) in notes(at)


def test_every_page_on_empty_marts_says_what_is_missing(
    empty_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(empty_world, monkeypatch, tmp_path)
    assert mart(empty_world, "select count(*) as n from marts.fct_invoices")["n"][0] == 0
    expected = {
        "overview": [("invoices", None)],
        "ar_aging": [("invoices", None)],
        "cycle_times": [("invoices", None)],
        "cash_forecast": [("cash_forecast", "Cash forecast"), ("revenue_forecast", None)],
        "customers": [("customers", None)],
        "customer_360": [("customers", None)],
        "worklist": [("invoices", None)],
        "unapplied_cash": [("payments", None)],
        "data_health": [("dq_results", None)],
    }
    for name in PAGES:
        at = page(name)
        assert_clean(at)
        for missing, section in expected[name]:
            assert says(at, NO[missing], section), (name, missing, notes(at))
    # Data health still shows the build's own record: its checks come from the build, not the marts.
    at = page("data_health")
    checks = mart(empty_world, "select json_array_length(check_results) as n from _meta")["n"][0]
    assert metrics(at)["Checks in the build"] == str(checks)


def test_overview_and_aging_on_invoices_only_show_open_ar(
    invoices_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(invoices_world, monkeypatch, tmp_path)
    open_ar = mart(invoices_world, "select sum(open_balance_rc) as rc from marts.fct_invoices where is_open")["rc"][0]
    at = page("overview")
    assert_clean(at)
    shown = metrics(at)
    assert shown["Open AR (gross)"] == money(open_ar)
    assert "CEI" not in shown and "Cash collected MTD" not in shown
    assert says(at, NO["payments"], "CEI and cash collected")
    at = page("unapplied_cash")
    assert_clean(at)
    assert says(at, NO["payments"], None)

    at = page("ar_aging")
    assert_clean(at)
    assert metrics(at)["Open AR"] == money(open_ar)
    # Only the filters the data can fill: currency; a note on the rest.
    assert [m.label for m in at.multiselect] == ["Currency"]
    assert any(
        c.value == "Not available: your data has no collectors, customer regions or customer segments (the "
        "customers' `collector_id`, `region`, `segment`), so there is no filter by them."
        for c in at.caption
    ), notes(at)
    by_customer = next(d.value for d in at.dataframe if "collector_name" in d.value.columns)
    assert by_customer["collector_name"].isna().all()
    assert round(by_customer["total_rc"].sum(), 2) == round(float(open_ar), 2)


def test_other_pages_on_invoices_only_say_what_is_missing(
    invoices_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(invoices_world, monkeypatch, tmp_path)
    at = page("cycle_times")
    assert_clean(at)
    assert says(at, NO["orders"], "Order → approval → shipment → invoice")
    assert says(at, NO["payments"], "Invoice → paid")

    at = page("cash_forecast")
    assert_clean(at)
    assert says(at, NO["cash_forecast"], "Cash forecast")
    assert says(at, NO["revenue_forecast"])

    at = page("customers")
    assert_clean(at)
    for missing in ("credit_limit", "clv"):
        assert says(at, NO[missing]), (missing, notes(at))
    assert says(at, NO["payments"], "Days to pay, days late and share paid late")
    n_customers = mart(invoices_world, "select count(*) as n from marts.dim_customers")["n"][0]
    assert len(at.dataframe[-1].value) == n_customers

    # The customer with the most open AR: its tiles from its invoices, notes on the rest.
    chosen, open_ar = mart(
        invoices_world,
        "select customer_id, sum(open_balance_rc) as rc from marts.fct_invoices where is_open "
        "group by 1 order by rc desc, customer_id limit 1",
    ).row(0)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.query_params["customer"] = chosen
    at.switch_page("app_pages/customer_360.py").run()
    assert_clean(at)
    assert metrics(at)["Open AR"] == money(open_ar)
    assert "Predicted revenue, 12 months" not in metrics(at)
    for missing, section in (("payments", None), ("disputes", None), ("clv", "Predicted revenue")):
        assert says(at, NO[missing], section), (missing, notes(at))
    assert "None" not in at.caption[-1].value and "collector (none)" in at.caption[-1].value

    at = page("data_health")
    assert_clean(at)
    assert says(at, NO["dq_results"])


def test_worklist_without_collectors_groups_everyone_as_unassigned(
    invoices_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(invoices_world, monkeypatch, tmp_path)
    at = page("worklist")
    assert_clean(at)
    assert says(at, NO["collectors"], "Collectors: every customer is under “unassigned”")
    assert at.selectbox[0].options == ["unassigned"]
    due = mart(
        invoices_world,
        "select count(*) as n from marts.fct_ar_aging where as_of_date = (select max(as_of_date) "
        "from marts.fct_ar_aging) and days_past_due > -7",
    )["n"][0]
    assert due > 0
    assert metrics(at)["Items"] == str(due)
    # An action on an unassigned customer is stored under the group it was worked from.
    next(b for b in at.button if b.label == "Save action").click().run()
    assert_clean(at)
    from core import ops_store
    from core.settings import get_settings

    stored = ops_store.actions(get_settings().ops())
    assert stored["collector_id"].to_list() == ["unassigned"]


def test_without_orders_cycle_times_show_invoice_to_paid(
    no_orders_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(no_orders_world, monkeypatch, tmp_path)
    at = page("cycle_times")
    assert_clean(at)
    assert says(at, NO["orders"], "Order → approval → shipment → invoice")
    shown = next(d.value for d in at.dataframe if "invoice_month" in d.value.columns)
    as_of = mart(no_orders_world, "select max(as_of_date) as d from marts.fct_ar_aging")["d"][0]
    # The page's default period: the last 12 whole months, the as-of date's month the last.
    first_month = dt.date(as_of.year - (as_of.month <= 11), (as_of.month - 12) % 12 + 1, 1)
    paid = mart(
        no_orders_world,
        "select invoice_date, days_to_pay from marts.fct_invoices where days_to_pay is not null "
        "and invoice_date between ? and ?",
        [first_month, as_of],
    )
    expected = (
        paid.group_by(pl.col("invoice_date").dt.truncate("1mo").alias("month"))
        .agg(
            pl.len().alias("n"),
            pl.col("days_to_pay").cast(pl.Float64).median().alias("median"),
            pl.col("days_to_pay").cast(pl.Float64).quantile(0.9, "linear").alias("p90"),
        )
        .sort("month")
    )
    assert shown["n_invoices"].tolist() == expected["n"].to_list()
    assert shown["median_days"].round(6).tolist() == expected["median"].round(6).to_list()
    assert shown["p90_days"].round(6).tolist() == expected["p90"].round(6).to_list()

    # Customers without segments: the lifetime-value chart is drawn uncoloured, the filters hide.
    at = page("customers")
    assert_clean(at)
    assert not says(at, NO["clv"]) and len(at.get("plotly_chart")) == 2
    at = page("ar_aging")
    assert_clean(at)
    assert [m.label for m in at.multiselect] == ["Collector", "Currency"]


def test_without_payments_the_forecast_stays_and_its_track_record_goes(
    no_payments_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(no_payments_world, monkeypatch, tmp_path)
    at = page("cash_forecast")
    assert_clean(at)
    weekly = mart(no_payments_world, "select expected_collections_rc from forecasts.cash_forecast order by week")
    assert metrics(at)["Expected receipts, next 13 weeks"] == money(weekly["expected_collections_rc"].sum())
    assert "Naive forecast, 13 weeks" not in metrics(at)
    assert says(at, NO["payments"], "Naive forecast")
    assert sum(n == NO["payments"] for n in notes(at)) == 2  # past forecasts, backtests

    at = page("cycle_times")
    assert_clean(at)
    assert sum(n == NO["payments"] for n in notes(at)) == 2  # order-to-cash distribution, terms variance
    assert at.radio[0].value == "approval to ship"

    at = page("overview")
    assert_clean(at)
    assert "CEI" not in metrics(at) and says(at, NO["payments"], "CEI and cash collected")


# ---- a real browser against `streamlit run`, on the empty and the invoices-only serving file ---


@pytest.fixture(params=["empty_world", "invoices_world"])
def degraded_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    use(request.getfixturevalue(request.param), monkeypatch, tmp_path)
    with serve_dashboards(tmp_path) as url:
        yield url


def test_every_page_on_missing_data_in_a_real_browser(degraded_server: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            tab = browser.new_page(viewport={"width": 1500, "height": 1100})
            for path, title in PAGE_TITLES.items():
                tab.goto(f"{degraded_server}/{path}")
                tab.get_by_text(title, exact=False).first.wait_for(timeout=30_000)
                tab.get_by_text("Not available: your data has no", exact=False).first.wait_for(timeout=30_000)
                tab.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
                )
                assert tab.locator('[data-testid="stException"]').count() == 0, path
                assert "Traceback" not in tab.locator("body").inner_text(), path
        finally:
            browser.close()
