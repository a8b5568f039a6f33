"""What a CFO sees, on a hand-made world small enough to work out with a pencil: the month-to-date
comparison when the data's as-of date is the 2nd of a month, the trend over complete months only,
and the CFO digest saying the same.

The world (USD only): two customers, six invoices and four receipts, the last activity on
2026-03-02.

    invoice  customer  date        due         amount   paid
    I1       C1        2026-01-05  2026-01-31  1,000    1,000 on Feb 1 (P1)
    I2       C2        2026-01-20  2026-02-01  2,000    1,000 on Feb 15 (P4), 1,000 on Mar 2 (P2)
    I3       C1        2026-02-01  2026-03-03    500    500 on Mar 1 (P3)
    I4       C2        2026-02-02  2026-03-01    300    –
    I5       C1        2026-03-01  2026-03-31    400    –
    I6       C2        2026-03-02  2026-04-01    250    –
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import point_the_app_at
from tests.own_data import publish_export, serving_query, write_csv

CUSTOMERS = [
    {"customer_id": "C1", "customer_name": "Alpha Inc", "currency": "USD", "payment_terms_days": "30"},
    {"customer_id": "C2", "customer_name": "Beta LLC", "currency": "USD", "payment_terms_days": "30"},
]
INVOICES = [  # id, customer, date, due, amount
    ("I1", "C1", "2026-01-05", "2026-01-31", "1000.00"),
    ("I2", "C2", "2026-01-20", "2026-02-01", "2000.00"),
    ("I3", "C1", "2026-02-01", "2026-03-03", "500.00"),
    ("I4", "C2", "2026-02-02", "2026-03-01", "300.00"),
    ("I5", "C1", "2026-03-01", "2026-03-31", "400.00"),
    ("I6", "C2", "2026-03-02", "2026-04-01", "250.00"),
]
PAYMENTS = [  # id, customer, date, amount, invoice it pays
    ("P1", "C1", "2026-02-01", "1000.00", "I1"),
    ("P4", "C2", "2026-02-15", "1000.00", "I2"),
    ("P3", "C1", "2026-03-01", "500.00", "I3"),
    ("P2", "C2", "2026-03-02", "1000.00", "I2"),
]


def hand_made_world(folder: Path) -> Path:
    folder.mkdir(parents=True)
    write_csv(folder / "customers.csv", CUSTOMERS)
    write_csv(
        folder / "invoices.csv",
        [
            {
                "invoice_id": i,
                "invoice_number": i,
                "customer_id": c,
                "invoice_date": d,
                "due_date": due,
                "currency": "USD",
                "invoice_amount": a,
            }
            for i, c, d, due, a in INVOICES
        ],
    )
    write_csv(
        folder / "payments.csv",
        [
            {
                "payment_id": p,
                "customer_id": c,
                "payment_date": d,
                "amount": a,
                "currency": "USD",
                "payment_type": "payment",
            }
            for p, c, d, a, _ in PAYMENTS
        ],
    )
    write_csv(
        folder / "payment_applications.csv",
        [
            {"application_id": f"{p}-{i}", "payment_id": p, "invoice_id": i, "applied_amount": a, "applied_date": d}
            for p, _, d, a, i in PAYMENTS
        ],
    )
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The hand-made world run through `o2c run` and published; its data dir and environment."""
    root = tmp_path_factory.mktemp("cfo")
    return publish_export(root, hand_made_world(root / "export"), "USD")


def test_month_to_date_is_compared_with_the_same_days_of_the_previous_month(world) -> None:
    data, _ = world
    rows = {
        r["period"]: r for r in serving_query(data, "select * from marts.fct_ar_month_to_date").iter_rows(named=True)
    }
    mtd, before = rows["month_to_date"], rows["previous_month_same_days"]
    # Mar 1–2 against Feb 1–2, not against the whole of February.
    assert (mtd["period_start"], mtd["period_end"], mtd["days_in_period"]) == (
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 2),
        2,
    )
    assert (before["period_start"], before["period_end"], before["days_in_period"]) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 2),
        2,
    )
    # Mar 1–2: opening AR at Feb 28 = I2's remaining 1,000 + I3 500 + I4 300; sales I5 + I6;
    # cash P3 + P2; closing AR I4 + I5 + I6, of which I4 (due Mar 1) is past due.
    assert float(mtd["beginning_ar_rc"]) == 1000 + 500 + 300
    assert float(mtd["credit_sales_rc"]) == 400 + 250
    assert float(mtd["cash_collected_rc"]) == 500 + 1000
    assert float(mtd["ending_ar_rc"]) == 300 + 400 + 250
    assert float(mtd["ending_current_ar_rc"]) == 400 + 250
    assert mtd["cei"] == round(100 * (1800 + 650 - 950) / (1800 + 650 - 650), 2)  # 83.33
    # Feb 1–2: opening AR at Jan 31 = I1 + I2; sales I3 + I4; cash P1; closing AR I2 + I3 + I4,
    # of which I2 (due Feb 1) is past due.
    assert float(before["beginning_ar_rc"]) == 1000 + 2000
    assert float(before["credit_sales_rc"]) == 500 + 300
    assert float(before["cash_collected_rc"]) == 1000
    assert float(before["ending_ar_rc"]) == 2000 + 500 + 300
    assert float(before["ending_current_ar_rc"]) == 500 + 300
    assert before["cei"] == round(100 * (3000 + 800 - 2800) / (3000 + 800 - 800), 2)  # 33.33
    # The month-to-date row is the running month of the monthly KPIs: one CEI formula.
    march = serving_query(data, "select * from marts.fct_ar_kpis_monthly where month_start = '2026-03-01'")
    assert march["cei"][0] == mtd["cei"]
    assert float(march["cash_collected_rc"][0]) == float(mtd["cash_collected_rc"])


def test_trends_show_complete_months_only(world) -> None:
    data, _ = world
    from dashboards import db

    trend = serving_query(data, db.sql("kpis_trend"))
    # January and February are complete; March runs only to the 2nd.
    assert trend["month_start"].to_list() == [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    # February as a whole: opening 3,000 + sales 800 − closing 1,800 over 3,000 + 800 − current 800.
    assert trend["cei"][-1] == round(100 * (3000 + 800 - 1800) / (3000 + 800 - 800), 2)  # 66.67


# ---- The week view ---------------------------------------------------------------------------


def test_weekly_kpis_are_complete_weeks_ending_on_the_as_of_date(world) -> None:
    data, _ = world
    weeks = serving_query(data, "select * from marts.fct_ar_kpis_weekly order by week_end_date")
    # Weeks of seven days ending on Mon Mar 2 and every seven days before, back to the week of
    # the first invoice (Jan 5): Mar 2, Feb 23, 16, 9, 2, Jan 26, 19, 12, 5.
    ends = [dt.date(2026, 3, 2) - dt.timedelta(days=7 * k) for k in range(9)][::-1]
    assert weeks["week_end_date"].to_list() == ends
    assert weeks["days_in_period"].unique().to_list() == [7]
    this, last = weeks.row(-1, named=True), weeks.row(-2, named=True)
    # Feb 24 – Mar 2: AR at Feb 23 = I2's remaining 1,000 + I3 500 + I4 300; invoiced I5 + I6;
    # cash P3 + P2; AR at Mar 2 = I4 + I5 + I6, of which I5 and I6 not yet due.
    assert this["week_start_date"] == dt.date(2026, 2, 24)
    assert float(this["beginning_ar_rc"]) == 1000 + 500 + 300
    assert float(this["credit_sales_rc"]) == 400 + 250
    assert float(this["cash_collected_rc"]) == 500 + 1000
    assert float(this["open_ar_rc"]) == 300 + 400 + 250
    assert float(this["current_ar_rc"]) == 400 + 250
    assert this["cei"] == round(100 * (1800 + 650 - 950) / (1800 + 650 - 650), 2)  # 83.33
    assert this["pct_current"] == round(100 * 650 / 950, 2)
    # DSO over the trailing 13 weeks (Dec 2 – Mar 2, 91 days): every invoice is in it.
    sales = 1000 + 2000 + 500 + 300 + 400 + 250
    assert this["dso_simple"] == round(950 / sales * 91, 2)
    assert this["bpdso"] == round(650 / sales * 91, 2)
    assert this["add_days"] == round(300 / sales * 91, 2)
    # Feb 17–23: nothing invoiced or collected; AR 1,800 at both ends, 800 of it not yet due.
    assert float(last["credit_sales_rc"]) == 0 and float(last["cash_collected_rc"]) == 0
    assert float(last["beginning_ar_rc"]) == float(last["open_ar_rc"]) == 1800
    assert last["cei"] == 0.0  # (1,800 + 0 − 1,800) ÷ (1,800 + 0 − 800)
    # The first week (Dec 30 – Jan 5): I1 invoiced from nothing and not yet due: CEI has no base.
    assert weeks["cei"][0] is None and float(weeks["beginning_ar_rc"][0]) == 0
    # Movers over the week: Beta LLC 1,300 (I2 1,000 + I4) → 550 (I4 + I6), Alpha Inc 500 (I3) → 400 (I5).
    movers = {
        r["customer_name"]: (float(r["week_ago_open_ar_rc"]), float(r["open_ar_rc"]), float(r["change_rc"]))
        for r in serving_query(data, "select * from marts.fct_ar_customer_movers").iter_rows(named=True)
    }
    assert movers == {"Beta LLC": (1300, 550, -750), "Alpha Inc": (500, 400, -100)}


# ---- The overview, browser-free --------------------------------------------------------------

APP = Path(__file__).resolve().parents[1] / "dashboards" / "streamlit_app.py"


@pytest.fixture
def app_env(world, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    data, env = world
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    point_the_app_at(data, monkeypatch, tmp_path)
    monkeypatch.delenv("O2C_TARGET_PCT_CURRENT", raising=False)
    monkeypatch.setenv("O2C_TARGET_DSO_DAYS", "45")
    monkeypatch.setenv("O2C_TARGET_CEI_PCT", "80")
    return data


def overview():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at = at.switch_page("app_pages/overview.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_overview_compares_like_for_like_on_the_second_of_the_month(app_env: Path) -> None:
    from streamlit.proto.Metric_pb2 import Metric as MetricProto

    at = overview()
    tiles = {m.label: m for m in at.metric}

    def shown(label: str) -> tuple[str, str, int, int]:
        proto = tiles[label].proto
        return proto.body, proto.delta, proto.direction, proto.color

    up, down = MetricProto.MetricDirection.UP, MetricProto.MetricDirection.DOWN
    green, gray = MetricProto.MetricColor.GREEN, MetricProto.MetricColor.GRAY
    # Flows: Mar 1–2 against Feb 1–2. Cash 1,500 against 1,000 (not against February's whole
    # 2,000, which read −500); CEI 83.33 against 33.33 (+50 points, not a "−50").
    assert shown("Cash collected month to date") == ("$1,500", "+$500", up, green)
    assert shown("Invoiced month to date") == ("$650", "−$150", down, gray)  # neither good nor bad
    assert shown("CEI month to date") == ("83.3%", "+50.0 pp", up, green)
    assert tiles["CEI month to date"].proto.delta_description == "vs Feb 1–2, 2026"
    # Stocks: Mar 2 against the Feb 28 month-end. Open AR 950 against 1,800: down, which is good.
    assert shown("Open AR (gross)") == ("$950", "−$850", down, green)
    assert shown("Net AR") == ("$950", "−$850", down, green)  # every receipt is applied
    # % current: 650 ÷ 950 = 68.42 against 800 ÷ 1,800 = 44.44 → +23.98 points.
    assert shown("% current") == ("68.4%", "+24.0 pp", up, green)
    # DSO: Mar 2 over Jan–Mar 2 (61 days, sales 4,450) = 13.02; Feb 28 over Jan–Feb (59 days,
    # sales 3,800) = 27.95; −14.93 days, which is good.
    assert shown("DSO (simple)") == ("13.0 days", "−14.9 days", down, green)
    assert tiles["DSO (simple)"].proto.delta_description == "vs Feb 28, 2026"
    # The targets set (DSO 45 days, CEI 80 %) under their tiles; none for % current (unset).
    assert [c.value for c in at.caption if c.value.startswith("Target")] == ["Target 45 days", "Target 80%"]
    assert "previous month-end" in tiles["DSO (simple)"].proto.help
    assert "Formula:" in tiles["DSO (simple)"].proto.help
    # Best possible DSO: 650 ÷ 4,450 × 61 = 8.91 against 800 ÷ 3,800 × 59 = 12.42 → −3.5 days.
    assert shown("Best possible DSO")[:2] == ("8.9 days", "−3.5 days")
    assert "same days of the previous month" in tiles["Cash collected month to date"].proto.help
    # No tile shows a count as a trend, none a raw number without its unit.
    assert all(m.value[0] in "$–" or m.value.endswith(("%", "days")) for m in at.metric), [m.value for m in at.metric]
    assert [e.label for e in at.expander] == ["Definitions"]
    definitions = " ".join(md.value for md in at.expander[0].markdown)
    for term in ("Best possible DSO", "Average days delinquent", "Expected credit loss", "Bad-debt ratio"):
        assert term in definitions


def test_overview_trends_are_complete_periods_with_the_targets_and_a_week_view(app_env: Path) -> None:
    import json

    at = overview()

    def chart(key: str) -> dict:
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        return next(c for c in charts if any(key in str(t.get("name")) for t in c["data"]))

    def xs(figure: dict, name: str) -> list[str]:
        trace = next(t for t in figure["data"] if t["name"] == name)
        return list(trace["x"])

    # By month: January and February only (March runs to the 2nd); the DSO target a dashed line at 45.
    dso = chart("DSO (simple)")
    assert xs(dso, "DSO (simple)") == ["Jan 2026", "Feb 2026"]
    assert [(s["y0"], s["line"]["dash"]) for s in dso["layout"]["shapes"]] == [(45, "dash")]
    cei = chart("CEI")
    assert [s["y0"] for s in cei["layout"]["shapes"]] == [80]  # no % current target: no line
    # By week: nine complete weeks, the last ending on the as-of date.
    at.radio(key="trend_view").set_value("Week").run()
    assert not at.exception
    dso = chart("DSO (simple)")
    assert xs(dso, "DSO (simple)")[-2:] == ["Feb 23, 2026", "Mar 2, 2026"] and len(xs(dso, "DSO (simple)")) == 9
    assert [s["y0"] for s in dso["layout"]["shapes"]] == [45]


# ---- The overview in a real browser (Chromium via Playwright) -------------------------------


def received(first: str, last: str) -> float:
    """Cash received from `first` to `last` (ISO dates), summed from PAYMENTS above."""
    return sum(float(amount) for _, _, day, amount, _ in PAYMENTS if first <= day <= last)


def invoiced(first: str, last: str) -> float:
    """Invoiced from `first` to `last` (ISO dates), summed from INVOICES above."""
    return sum(float(amount) for _, _, day, _, amount in INVOICES if first <= day <= last)


def is_green(css_colour: str) -> bool:
    """An "rgb(r, g, b)" colour whose green channel clearly leads (Streamlit's green is a dark
    teal, rgb(12, 90, 68) in the light theme; its gray has about equal channels)."""
    r, g, b = (int(v) for v in re.findall(r"\d+", css_colour)[:3])
    return g > max(r, b) + 15


def test_overview_in_a_browser_shows_the_like_for_like_changes_on_the_second_of_the_month(
    app_env: Path, tmp_path: Path
) -> None:
    """The same tiles as test_overview_compares_like_for_like_on_the_second_of_the_month, as
    Chromium draws them: read from the page's stMetric elements, with a screenshot to look at."""
    from tests.test_dashboards import serve_dashboards
    from tests.test_pages_as_users import chromium_tab, problems_of, read_page, show_whole, tiles

    shot = tmp_path / "overview.png"
    with serve_dashboards(tmp_path) as url, chromium_tab() as tab:
        show_whole(tab, url, shot)  # the overview is the default page
        assert tab.locator('[data-testid="stMain"] h1').first.inner_text() == "Order-to-cash overview"
        shown = tiles(tab)
        problems = problems_of(read_page(tab))  # labels in words, money with "$", no "None"
    assert shot.stat().st_size > 10_000, shot
    assert not problems, f"{problems} (see {shot})"

    def tile(label: str) -> tuple[str, str, str]:
        return shown[label]["value"], shown[label]["delta"], shown[label]["description"]

    # Cash collected Mar 1–2 (P3 500 + P2 1,000) against Feb 1–2 (P1 1,000): +500, green; against
    # the whole of February (2,000) it would read −500.
    cash_now, cash_before = received("2026-03-01", "2026-03-02"), received("2026-02-01", "2026-02-02")
    assert (cash_now, cash_before) == (1500, 1000)
    assert tile("Cash collected month to date") == (
        f"${cash_now:,.0f}",
        f"+${cash_now - cash_before:,.0f}",
        "vs Feb 1–2, 2026",
    )
    assert is_green(shown["Cash collected month to date"]["colour"]), shown["Cash collected month to date"]
    # Invoiced Mar 1–2 (I5 400 + I6 250) against Feb 1–2 (I3 500 + I4 300): −150, neither good
    # nor bad (not green).
    sales_now, sales_before = invoiced("2026-03-01", "2026-03-02"), invoiced("2026-02-01", "2026-02-02")
    assert tile("Invoiced month to date")[:2] == (f"${sales_now:,.0f}", f"−${sales_before - sales_now:,.0f}")
    assert not is_green(shown["Invoiced month to date"]["colour"]), shown["Invoiced month to date"]
    # CEI Mar 1–2: (opening 1,800 + sales 650 − closing 950) ÷ (1,800 + 650 − current 650) = 83.33;
    # Feb 1–2: (3,000 + 800 − 2,800) ÷ (3,000 + 800 − 800) = 33.33: +50.0 points, green.
    cei_now = 100 * (1800 + sales_now - 950) / (1800 + sales_now - 650)
    cei_before = 100 * (3000 + sales_before - 2800) / (3000 + sales_before - 800)
    assert tile("CEI month to date") == (
        f"{cei_now:.1f}%",
        f"+{cei_now - cei_before:.1f} pp",
        "vs Feb 1–2, 2026",
    )
    assert is_green(shown["CEI month to date"]["colour"]), shown["CEI month to date"]
    # Open AR at Mar 2 (I4 300 + I5 400 + I6 250) against the Feb 28 month-end (I2's remaining
    # 1,000 + I3 500 + I4 300): −850, which is good.
    assert tile("Open AR (gross)") == ("$950", f"−${1800 - 950:,.0f}", "vs Feb 28, 2026")
    assert is_green(shown["Open AR (gross)"]["colour"]), shown["Open AR (gross)"]
    # On no tile the sign turned over: no "−50" points for CEI, no "−$500" for cash.
    deltas = [t["delta"] for t in shown.values()]
    assert not [d for d in deltas if d.startswith(("−50", "-50", "−$500"))], deltas


# ---- The CFO digest through a real SMTP server -----------------------------------------------


def test_cfo_digest_says_the_same_as_the_overview(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alerts import runner
    from core.settings import get_settings
    from tests.mail_world import smtp_server

    monkeypatch.setenv("O2C_CFO_EMAILS", "cfo@example.com")
    monkeypatch.setenv("O2C_SMTP_HOST", "127.0.0.1")
    with smtp_server() as inbox:
        monkeypatch.setenv("O2C_SMTP_PORT", str(inbox.port))
        outcome = runner.run("cfo_digest", get_settings())
    assert outcome.sent == 1, outcome.warnings
    message = inbox.messages[0]
    assert message["Subject"] == "AR digest, week 10 (Mar 2, 2026): open AR $950"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # This week (Feb 24 – Mar 2) against last week (Feb 17–23): hand-worked above.
    assert "This week (Feb 24 – Mar 2, 2026) against last week (Feb 17–23, 2026)" in text
    assert "- Cash collected: $1,500 (last week $0, +$1,500)" in text
    assert "- CEI: 83.3% (last week 0.0%, +83.3 pp), target 80%" in text
    assert "- Open AR at the week's end: $950 (last week $1,800, −$850)" in text
    # The month to date like the overview's tiles: Mar 1–2 against Feb 1–2.
    assert "Month to date (Mar 1–2, 2026) against the same days of the previous month (Feb 1–2, 2026)" in text
    assert "- Cash collected: $1,500 (same days last month $1,000, +$500)" in text
    assert "- CEI: 83.3% (same days last month 33.3%, +50.0 pp), target 80%" in text
    # Balances and DSO against the previous month-end.
    # (27.95 shows as 28.0, rounded half to even as Babel does; the change is 13.02 − 27.95.)
    assert "- DSO (simple): 13.0 days (previous month-end 28.0 days, −14.9 days), target 45 days" in text
    assert "- % current: 68.4% (previous month-end 44.4%, +24.0 pp)" in text
    # Movers over the week, largest change first.
    assert text.index("- Beta LLC: $1,300 → $550 (−$750)") < text.index("- Alpha Inc: $500 → $400 (−$100)")
    assert "- Average days delinquent = simple DSO − best possible DSO" in text
    # The HTML says the same, the good change green and the bad red, the chart inline.
    assert "+$500" in html and "+50.0 pp" in html and "−$850" in html
    assert "color: #2e7d32" in html  # e.g. the cash collected change
    assert "None" not in html and "None" not in text
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and f"cid:{images[0]['Content-ID'].strip('<>')}" in html


def test_the_aging_chart_draws_the_oldest_bucket_darkest_red() -> None:
    from alerts.cfo_digest import aging_figure
    from core import formatting
    from quality.aging import aging_bucket_labels

    buckets = aging_bucket_labels()
    aging = pl.DataFrame(
        {
            "as_of_date": [dt.date(2026, 2, 28)] * 3,
            "aging_bucket": [buckets[0], buckets[1], buckets[-1]],
            "aging_bucket_order": [1, 2, len(buckets)],
            "open_ar_rc": [100.0, 50.0, 25.0],
        }
    )
    colours = {trace.name: trace.marker.color for trace in aging_figure(aging, "USD").data}
    # Whichever buckets the data holds, the oldest of all is the darkest red and the newest green.
    assert colours[buckets[-1]] == formatting.SEVERITY[-1] == "#8e0000"
    assert colours[buckets[0]] == formatting.SEVERITY[0]
    assert colours[buckets[1]] == formatting.severity_colours(len(buckets))[1]


# ---- KPI definitions and targets -------------------------------------------------------------


def test_kpi_definitions_agree_with_the_dbt_metrics() -> None:
    import yaml

    from core.kpi_definitions import KPIS

    metrics_file = Path(__file__).resolve().parents[1] / "dbt_project/models/semantic/_semantic__metrics.yml"
    metrics = {m["name"]: m for m in yaml.safe_load(metrics_file.read_text())["metrics"]}
    for column, kpi in KPIS.items():
        assert kpi.metric in metrics, column
        assert metrics[kpi.metric]["label"] == kpi.label, column
    # Where the formula is arithmetic, the metric's description states the same one.
    for column in ("pct_current", "dso_simple", "bpdso", "add_days", "cei", "bad_debt_ratio"):
        formula = KPIS[column].formula.split(" (")[0].lower()
        assert formula in metrics[KPIS[column].metric]["description"].lower(), column


def test_targets_are_optional_and_validated_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.kpi_definitions import KPIS, compare, targets
    from core.settings import SettingsError, get_settings

    for name in ("O2C_TARGET_DSO_DAYS", "O2C_TARGET_CEI_PCT", "O2C_TARGET_PCT_CURRENT"):
        monkeypatch.delenv(name, raising=False)
    assert set(targets(get_settings()).values()) == {None}
    monkeypatch.setenv("O2C_TARGET_DSO_DAYS", "45")
    monkeypatch.setenv("O2C_TARGET_PCT_CURRENT", "")  # empty = no target
    chosen = targets(get_settings())
    assert (chosen["dso_simple"], chosen["pct_current"], chosen["cei"]) == (45.0, None, None)
    assert compare(KPIS["dso_simple"], 50, 40, "Feb 28, 2026", "USD", 45.0).target_text == "target 45 days"
    assert compare(KPIS["dso_simple"], 50, 40, "Feb 28, 2026", "USD", None).target_text is None
    monkeypatch.setenv("O2C_TARGET_DSO_DAYS", "forty")
    monkeypatch.setenv("O2C_TARGET_CEI_PCT", "120")
    with pytest.raises(SettingsError) as error:
        get_settings()
    lines = str(error.value).splitlines()
    assert lines[0].startswith("O2C_TARGET_DSO_DAYS: 'forty'")
    assert lines[1] == "O2C_TARGET_CEI_PCT: '120': input should be less than or equal to 100"
