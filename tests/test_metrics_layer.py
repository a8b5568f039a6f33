"""The metrics layer (dbt semantic models and metrics, MetricFlow) and the analyst path, on the
shared published world: the dashboards' headline figures equal the metric queries."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from core.serving import open_read_only
from orchestration.metrics import MetricsLayer
from tests.conftest import o2c

# The overview's KPI tiles (and the CFO digest's table) read these columns of the page's query
# (dashboards/queries/kpis_monthly.sql); each is a metric of the same name or the one named here.
TILE_METRICS = {
    "open_ar_rc": "open_ar",
    "open_ar_net_rc": "net_ar",
    "current_ar_rc": "current_ar",
    "overdue_ar_rc": "past_due_ar",
    "unapplied_cash_rc": "unapplied_cash",
    "pct_current": "pct_current",
    "dso_simple": "dso_simple",
    "dso_countback": "dso_countback",
    "dso_net": "dso_net",
    "bpdso": "bpdso",
    "add_days": "add_days",
    "cei": "cei",
    "cei_3m": "cei_3m",
    # Flows read from the transactions (fct_payments, fct_invoices), not from the monthly mart:
    # equal only if both apply the same rule (cash net of refunds, by payment and invoice date).
    "cash_collected_rc": "cash_collected",
    "credit_sales_rc": "invoiced",
}


@pytest.fixture(scope="module")
def serving(dashboard_world: Path) -> Path:
    return dashboard_world / "warehouse" / "serving.duckdb"


@pytest.fixture(scope="module")
def layer(serving: Path) -> MetricsLayer:
    return MetricsLayer(serving)


def page_query(serving: Path, name: str) -> pl.DataFrame:
    """What a page reads: the SQL file of dashboards/queries/ on the serving file, read-only."""
    from dashboards import db

    con = open_read_only(serving)
    try:
        return pl.from_arrow(con.sql(db.sql(name)).to_arrow_table())  # type: ignore[return-value]
    finally:
        con.close()


def mart(serving: Path, sql: str) -> pl.DataFrame:
    con = open_read_only(serving)
    try:
        return pl.from_arrow(con.sql(sql).to_arrow_table())  # type: ignore[return-value]
    finally:
        con.close()


def test_overview_kpis_equal_the_metric_queries_every_month(serving: Path, layer: MetricsLayer) -> None:
    kpis = page_query(serving, "kpis_monthly")
    assert kpis.height >= 6  # 240 days of history: every month from the first invoice
    result = layer.query(list(TILE_METRICS.values()), ["metric_time__month"])
    by_month = {row["metric_time__month"].date(): row for row in result.iter_rows(named=True)}
    assert set(by_month) == set(kpis["month_start"])
    for row in kpis.iter_rows(named=True):
        queried = by_month[row["month_start"]]
        for column, metric in TILE_METRICS.items():
            expected = row[column]
            if column.endswith("_rc"):  # money: exact to the cent (no metric row = nothing happened)
                assert Decimal(queried[metric] or 0) == Decimal(expected), (row["month_start"], metric)
            else:
                assert queried[metric] == expected, (row["month_start"], metric)
    # The headline month (the tiles): open AR and DSO the page shows, not zero, not empty.
    latest = kpis.row(-1, named=True)
    assert latest["open_ar_rc"] > 0 and latest["dso_simple"] is not None


def test_balances_roll_up_at_the_period_end_and_flows_add_up(serving: Path, layer: MetricsLayer) -> None:
    """A quarter's open AR and DSO are its last month's (semi-additive), its cash the sum of its
    months: worked out here from the monthly rows the page reads."""
    kpis = page_query(serving, "kpis_monthly").with_columns(pl.col("month_start").dt.truncate("1q").alias("quarter"))
    expected = (
        kpis.sort("month_start")
        .group_by("quarter", maintain_order=True)
        .agg(
            pl.col("open_ar_rc").last(),
            pl.col("dso_simple").last(),
            pl.col("cash_collected_rc").sum(),
        )
    )
    result = layer.query(["open_ar", "dso_simple", "cash_collected"], ["metric_time__quarter"])
    got = {row["metric_time__quarter"].date(): row for row in result.iter_rows(named=True)}
    assert len(got) == expected.height >= 3
    for row in expected.iter_rows(named=True):
        quarter = got[row["quarter"]]
        assert Decimal(quarter["open_ar"]) == Decimal(row["open_ar_rc"])
        assert quarter["dso_simple"] == row["dso_simple"]
        assert Decimal(quarter["cash_collected"]) == Decimal(row["cash_collected_rc"])
    # Without a time group-by a balance is today's: the last month's, never the sum of months.
    now = layer.query(["open_ar"])
    assert Decimal(now["open_ar"][0]) == Decimal(kpis["open_ar_rc"][-1])


def test_aging_segments_and_cycle_times_equal_the_marts(serving: Path, layer: MetricsLayer) -> None:
    # Aging at the data's as-of date, by bucket: the sum over the latest as-of date's rows.
    aging = mart(
        serving,
        "select aging_bucket, sum(open_balance_rc) as open_ar from marts.fct_ar_aging "
        "where as_of_date = (select max(as_of_date) from marts.fct_ar_aging) group by all",
    )
    got = layer.query(["aging_open_ar"], ["aging_row__aging_bucket"])
    assert dict(zip(got["aging_row__aging_bucket"], got["aging_open_ar"], strict=True)) == dict(
        zip(aging["aging_bucket"], aging["open_ar"], strict=True)
    )
    assert sum(got["aging_open_ar"]) == page_query(serving, "kpis_monthly")["open_ar_rc"][-1]

    # Invoiced by customer segment and month: invoices joined to their customers here.
    invoices = mart(serving, "select customer_id, invoice_date, invoice_amount_rc from marts.fct_invoices")
    customers = mart(serving, "select customer_id, segment from marts.dim_customers")
    expected = (
        invoices.join(customers, on="customer_id", how="left")
        .group_by(pl.col("invoice_date").dt.truncate("1mo").alias("month"), "segment")
        .agg(pl.col("invoice_amount_rc").sum())
    )
    got = layer.query(["invoiced"], ["metric_time__month", "customer__segment"])
    assert {
        (r["metric_time__month"].date(), r["customer__segment"]): r["invoiced"] for r in got.iter_rows(named=True)
    } == {(r["month"], r["segment"]): r["invoice_amount_rc"] for r in expected.iter_rows(named=True)}

    # Order-to-cash medians by order month: what the cycle-times page reads (fct_cycle_times_monthly).
    cycles = mart(
        serving,
        "select order_month, median_days from marts.fct_cycle_times_monthly where cycle_stage = 'order_to_cash'",
    )
    got = layer.query(["order_to_cash_p50"], ["metric_time__month"])
    medians = {r["metric_time__month"].date(): r["order_to_cash_p50"] for r in got.iter_rows(named=True)}
    assert cycles.height >= 3
    for month, median in cycles.iter_rows():
        assert medians[month] == pytest.approx(median), month


def test_o2c_metrics_commands_list_query_and_name_what_is_wrong(dashboard_world: Path, tmp_path: Path) -> None:
    listed = o2c(dashboard_world, "metrics", "list").stdout
    for metric in ("open_ar", "dso_simple", "dso_countback", "cei", "cash_collected", "write_offs", "aging_open_ar"):
        assert f" {metric} " in listed, metric

    out = tmp_path / "open_ar.csv"
    o2c(
        dashboard_world,
        "metrics",
        "query",
        "--metrics",
        "open_ar,dso_simple",
        "--group-by",
        "metric_time__month",
        "--csv",
        str(out),
    )
    written = pl.read_csv(out, try_parse_dates=True)
    kpis = page_query(dashboard_world / "warehouse" / "serving.duckdb", "kpis_monthly")
    assert written["open_ar"].to_list() == [float(v) for v in kpis["open_ar_rc"]]
    assert written["dso_simple"].to_list() == kpis["dso_simple"].to_list()

    shown = o2c(dashboard_world, "metrics", "query", "--metrics", "open_ar", "--group-by", "metric_time__month").stdout
    assert f"{kpis['open_ar_rc'][-1]}" in shown  # the latest month, to the cent

    wrong = o2c(dashboard_world, "metrics", "query", "--metrics", "dso_simpel", check=False)
    assert wrong.returncode == 1
    assert (
        "'dso_simpel'" in wrong.stdout
        and "dso_simple" in wrong.stdout
        and "Traceback" not in wrong.stdout + wrong.stderr
    )
    wrong = o2c(
        dashboard_world, "metrics", "query", "--metrics", "open_ar", "--group-by", "customer__segment", check=False
    )
    assert wrong.returncode == 1 and "'customer__segment'" in wrong.stdout and "metric_time__month" in wrong.stdout


def test_the_readme_sql_example_runs_as_written(dashboard_world: Path) -> None:
    """The README's analyst example, taken from the README verbatim, on the published world."""
    import re
    import shlex

    from core.settings import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(\.venv/bin/o2c sql \\\n.*?)\n\.venv/bin/o2c metrics", readme, re.S)
    assert block, "README: the `o2c sql` example"
    args = shlex.split(block.group(1).replace("\\\n", " "))
    assert args[:2] == [".venv/bin/o2c", "sql"]
    shown = o2c(dashboard_world, *args[1:]).stdout
    kpis = page_query(dashboard_world / "warehouse" / "serving.duckdb", "kpis_monthly")
    assert "dso_countback" in shown and str(kpis["open_ar_rc"][-1]) in shown


def test_metrics_on_an_own_export_without_orders(collector_world: Path, tmp_path: Path) -> None:
    """A company's own export with customers, invoices and payments but no sales orders
    (tests/mail_world.py's world, built by `o2c run`): AR metrics answer with the figures worked
    out by hand; an order metric says in one line why it has nothing, with no traceback."""
    out = tmp_path / "ar.csv"
    args = ("metrics", "query", "--metrics", "open_ar,past_due_ar", "--group-by", "metric_time__month")
    o2c(collector_world, *args, "--csv", str(out))
    written = pl.read_csv(out, try_parse_dates=True)
    # Month-ends from tests/mail_world.py's table (the as-of date 2026-11-30 for November):
    # Aug 31: I6 700 (paid 09-10), none due. Sep 30: I1 1,000 (due 10-01). Oct 31: I1 800 (200 paid
    # 10-15, past due) + I3 300 (due that day: not past due) + I5 400 = 1,500, past due 800.
    # Nov 30: I1 800 + I2 500 + I3 300 + I4 2,000 + I5 400 + I7 250 = 4,250, past due 800 + 300
    # + 400 + 250 = 1,750.
    assert [str(month)[:7] for month in written["metric_time__month"]] == ["2026-08", "2026-09", "2026-10", "2026-11"]
    assert written["open_ar"].to_list() == [700.0, 1000.0, 1500.0, 4250.0]
    assert written["past_due_ar"].to_list() == [0.0, 0.0, 800.0, 1750.0]

    orders = o2c(
        collector_world,
        "metrics",
        "query",
        "--metrics",
        "order_to_cash_p50,open_ar",
        "--group-by",
        "metric_time__month",
    )
    text = orders.stdout + orders.stderr
    assert "Traceback" not in text
    assert "order_to_cash_p50: no data in this build" in orders.stdout and "marts.fct_o2c_cycle_times" in orders.stdout
    assert "open_ar: no data" not in orders.stdout and "4250.00" in orders.stdout  # the AR metric still answers
