"""The collector's day on a hand-written serving file: the daily email carries the top N of the
worklist in its order, totals and what changed since yesterday, formatted, without "None" or
"nan" where optional values are missing, and arrives through a real SMTP server (aiosmtpd).
The worklist's order itself is proven by the dbt unit test worklist_ranks_what_is_worth_a_call_today."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import pytest

from alerts import collector_report, data, mail
from alerts.config import AlertConfig
from tests import mail_world

AS_OF = dt.date(2026, 11, 30)

# One collector (K1, two customers, one without a name) and one with nothing to do (K2).
# fct_worklist_items rows as the mart writes them (its rule is tested in dbt); the totals the
# email shows are worked out by hand in the test from these rows.
WORLD = f"""
create schema marts;
create table marts.dim_customers as select * from (values
    ('C1', 'Acme GmbH', 'K1', 'Kim Collector', 'kim@example.com', 'ops@acme.example', 'de', 0.0),
    ('C2', null, 'K1', 'Kim Collector', 'kim@example.com', null, null, 0.0),
    ('C3', 'Quiet Ltd', 'K2', 'Lee Collector', 'lee@example.com', null, 'en', 0.0)
) as t(customer_id, customer_name, collector_id, collector_name, collector_email, billing_email, language,
       overdue_ar_rc);
create table marts.fct_ar_aging as select * from (values
    (DATE '{AS_OF}', 'I1', 'C1', 'EUR', DATE '2026-10-01', DATE '2026-10-31', 30, '1-30', 1234.5, 1300.25),
    (DATE '{AS_OF}', 'I2', 'C1', 'EUR', DATE '2026-11-01', DATE '2026-12-03', -3, 'current', 800.0, 842.1),
    (DATE '{AS_OF}', 'I3', 'C2', 'USD', DATE '2026-10-20', DATE '2026-11-29', 1, '1-30', 99.99, 99.99),
    (DATE '{AS_OF}', 'I4', 'C2', 'USD', DATE '2026-11-30', DATE '2026-12-30', -30, 'current', 500.0, 500.0)
) as t(as_of_date, invoice_id, customer_id, currency, invoice_date, due_date, days_past_due, aging_bucket,
       open_balance, open_balance_rc);
create table marts.fct_invoices as select * from (values
    ('I1', 'INV-1', false, true), ('I2', 'INV-2', false, true), ('I3', 'INV-3', false, true),
    ('I4', 'INV-4', false, true)
) as t(invoice_id, invoice_number, is_disputed, is_open);
create table marts.fct_collection_actions as select * from (values
    ('I1', 'C1', true, 'broken', DATE '2026-11-29', 1000.0)
) as t(invoice_id, customer_id, is_latest_promise, promise_status, promised_date, promised_amount);
create table marts.fct_disputes (
    dispute_id varchar, invoice_id varchar, customer_id varchar, reason varchar, opened_date date,
    currency varchar, disputed_amount double, is_open boolean
);
create table marts.fct_customer_credit_exposure (
    customer_id varchar, currency varchar, credit_limit double, exposure double, credit_utilisation_pct double,
    is_over_credit_limit boolean
);
create table marts.fct_worklist_items as select * from (values
    ('K1', 1, 'I1', 'C1', 'Acme GmbH', 'EUR', 1234.5, 1300.25, DATE '2026-10-31', 30,
     'Promise broken on 2026-11-29', 'Promise broken', 'broken'),
    ('K1', 2, 'I3', 'C2', null, 'USD', 99.99, 99.99, DATE '2026-11-29', 1,
     '1 day past due', 'Became past due', null),
    ('K1', 3, 'I2', 'C1', 'Acme GmbH', 'EUR', 800.0, 842.1, DATE '2026-12-03', -3, 'Due in 3 days', null, null)
) as t(collector_id, priority_rank, invoice_id, customer_id, customer_name, currency, open_balance,
       open_balance_rc, due_date, days_past_due, priority_reason, new_since_yesterday, promise_status);
-- fct_collector_daily as the mart would write it for the rows above (its sums are tested on a real
-- build in test_email_and_page_show_the_collectors_totals_of_the_mart_worked_by_hand): K1 open
-- 1,300.25 + 842.10 + 99.99 + 500.00 = 2,742.34, past due (days > 0) 1,300.25 + 99.99 = 1,400.24,
-- one broken promise on 1,300.25, I3 became past due, I1's promise broke yesterday.
create table marts.fct_collector_daily as select * from (values
    ('K1', 2742.34, 1400.24, 3, 1, 1300.25, 0, 0, 1, 1, 0),
    ('K2', 0.0, 0.0, 0, 0, 0.0, 0, 0, 0, 0, 0)
) as t(collector_id, open_ar_rc, past_due_ar_rc, worklist_items, broken_promises, broken_promises_rc,
       new_invoices, new_disputes, newly_broken_promises, became_past_due, now_due_within_a_week);
"""


@pytest.fixture
def serving(tmp_path: Path) -> Path:
    return mail_world.build_serving(tmp_path / "serving.duckdb", WORLD)


def test_daily_email_is_short_formatted_and_says_what_changed(serving: Path, smtp: mail_world.Inbox) -> None:
    inbox, port = smtp, smtp.port
    snapshot = data.Snapshot(serving, "build-1", AS_OF, [])
    emails = collector_report.emails(snapshot, AlertConfig(), "http://dash.example/", "EUR", daily_items=2)
    # K2 has no worklist item and no exception: no email (all-clear is off by default).
    assert [e.to for e in emails] == [("Kim Collector <kim@example.com>",)]
    messages = [mail.build(e, "o2c <o2c@example.com>") for e in emails]
    mail.send(messages, mail.SmtpSettings(host="127.0.0.1", port=port), lambda m: None)
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert message["Subject"] == "Your collections day 2026-11-30: top 2 of 3 items"

    # K1's totals (fct_collector_daily above), formatted: 2,742.34 → €2,742; 1,400.24 → €1,400;
    # one broken promise on 1,300.25 → €1,300.
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))  # the HTML as a reader sees it
    for body in (text, words):
        assert "€2,742" in body and "€1,400" in body
        assert "1 broken promise (€1,300)" in body
        assert "3 items on your worklist" in body
        # What changed: I3 became past due, I1's promise broke yesterday.
        assert "1 item became past due" in body and "1 promise broken" in body
        # The daily target's top 2 in rank order, in their own currencies with cents, dates formatted;
        # the customer without a name shows its invoice, never "None".
        assert body.index("Promise broken on 2026-11-29") < body.index("1 day past due")
        assert "€1,234.50" in body and "$99.99" in body and "Oct 31, 2026" in body
        assert "Due in 3 days" not in body  # rank 3: beyond the daily target
    assert "http://dash.example/worklist" in text and 'href="http://dash.example/worklist"' in html
    for body in (text, html):
        assert not re.search(r"\bNone\b|\bnan\b|\bNaN\b", body), body
    assert "Since yesterday: 1 item became past due, 1 promise broken." in text


# ---- the worklist page on the published simulated world (tests/conftest.py dashboard_world) ----


def test_worklist_page_shows_todays_top_n_with_reasons_and_progress(
    dashboard_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from core import ops_store
    from core.settings import REPO_ROOT, get_settings

    monkeypatch.setenv("O2C_DATA_DIR", str(dashboard_world))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    monkeypatch.setenv("O2C_COLLECTOR_DAILY_ITEMS", "3")
    for name in ("O2C_SERVING_PATH", "O2C_WAREHOUSE_PATH"):
        monkeypatch.delenv(name, raising=False)
    at = AppTest.from_file(str(REPO_ROOT / "dashboards" / "streamlit_app.py"), default_timeout=60).run()
    at = at.switch_page("app_pages/worklist.py").run()
    assert not at.exception
    collector = at.selectbox[0].value
    con = duckdb.connect(str(dashboard_world / "warehouse" / "serving.duckdb"), read_only=True)
    try:
        mart = con.sql(
            "select invoice_id, priority_reason, priority_rank from marts.fct_worklist_items "
            "where collector_id = ? order by priority desc, open_balance_rc desc, invoice_id",
            params=[collector],
        ).fetchall()
    finally:
        con.close()
    assert len(mart) > 3  # more items than the daily target, so the cut shows
    table = next(d.value for d in at.dataframe if "priority_reason" in d.value.columns)
    # Today's top 3, in the mart's order (by priority, independently sorted here), with the reason.
    assert table["invoice_id"].tolist() == [row[0] for row in mart[:3]]
    assert table["priority_reason"].tolist() == [row[1] for row in mart[:3]]
    assert table["priority_rank"].tolist() == [1, 2, 3]
    assert "Today: 0 of 3 items worked" in at.get("progress")[0].proto.text

    # An action saved today on the first item counts towards the target.
    first = mart[0][0]
    next(b for b in at.button if b.label == "Save action").click().run()
    assert not at.exception
    stored = ops_store.actions(get_settings().ops())
    assert stored["invoice_id"].to_list() == [first]
    assert "Today: 1 of 3 items worked" in at.get("progress")[0].proto.text

    # Every item behind the toggle.
    at.toggle[0].set_value(True).run()
    table = next(d.value for d in at.dataframe if "priority_reason" in d.value.columns)
    assert table["invoice_id"].tolist() == [row[0] for row in mart]


# ---- one home for the collector's figures: a real build of tests/mail_world.py's world ----------


def test_email_and_page_show_the_collectors_totals_of_the_mart_worked_by_hand(
    collector_world: Path, smtp: mail_world.Inbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fct_collector_daily's figures, worked out by hand from tests/mail_world.py's table: the same
    in the daily email and on the worklist page, which only format them."""
    from streamlit.testing.v1 import AppTest

    from core.settings import REPO_ROOT

    serving = collector_world / "warehouse" / "serving.duckdb"
    con = duckdb.connect(str(serving), read_only=True)
    try:
        mart = {
            row[0]: row[1:]
            for row in con.sql(
                "select collector_id, open_ar_rc::double, past_due_ar_rc::double, worklist_items, "
                "worklist_open_rc::double, new_since_yesterday, became_past_due from marts.fct_collector_daily"
            ).fetchall()
        }
    finally:
        con.close()
    # K1: open 800 (I1) + 500 (I2) + 300 (I3) + 2,000 (I4) = 3,600; past due 800 + 300 = 1,100;
    # worklist I1, I2 (due tomorrow), I3 = 3 items, 1,600 (I4 is due in 30 days: not on it).
    # K2: I5 400, one day past due: 400 open and past due, 1 item, new (became past due); I6 is paid.
    # unassigned (C4 has no collector): I7 250, 10 days past due, 1 item.
    # New since the previous data day, 2026-11-10 (I7's invoice, the latest earlier event; 20 days
    # back): I5 and I7 became past due (due 11-29 and 11-20); I2 (due 12-01) was 21 days out then,
    # now due within a week. I4 is new but not on the list (due in 30 days).
    assert mart == {
        "K1": (3600.0, 1100.0, 3, 1600.0, 1, 0),
        "K2": (400.0, 400.0, 1, 400.0, 1, 1),
        "unassigned": (250.0, 250.0, 1, 250.0, 1, 1),
    }

    # The email: one per collector with an address (the unassigned group has none).
    snapshot = data.snapshot(serving)
    assert snapshot.as_of == dt.date(2026, 11, 30)
    emails = collector_report.emails(snapshot, AlertConfig(), "http://dash.example/", "EUR", daily_items=2)
    messages = [mail.build(e, "o2c <o2c@example.com>") for e in emails]
    mail.send(messages, mail.SmtpSettings(host="127.0.0.1", port=smtp.port), lambda m: None)
    texts = {m["To"].addresses[0].addr_spec: m.get_body(("plain",)).get_content() for m in smtp.messages}
    assert set(texts) == {"kim@example.com", "lee@example.com"}
    assert (
        "Open AR €3,600 · past due €1,100 · 0 broken promises (€0) · 3 items on your worklist."
        in texts["kim@example.com"]
    )
    assert "Since yesterday: 1 item now due within a week." in texts["kim@example.com"]
    assert (
        "Open AR €400 · past due €400 · 0 broken promises (€0) · 1 item on your worklist." in texts["lee@example.com"]
    )
    assert "Since yesterday: 1 item became past due." in texts["lee@example.com"]

    # The page: the same figures for the same collector, formatted the same way.
    monkeypatch.setenv("O2C_DATA_DIR", str(collector_world))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    monkeypatch.setenv("O2C_REPORTING_CURRENCY", "EUR")
    for name in ("O2C_SERVING_PATH", "O2C_WAREHOUSE_PATH", "O2C_CONTRACT_DIR"):
        monkeypatch.delenv(name, raising=False)
    at = AppTest.from_file(str(REPO_ROOT / "dashboards" / "streamlit_app.py"), default_timeout=60).run()
    at = at.switch_page("app_pages/worklist.py").run()
    assert not at.exception
    assert at.selectbox[0].options == ["Kim Collector", "Lee Collector", "unassigned"]
    for collector, (items, open_ar, past_due, worklist_open, new) in {
        "K1": ("3", "€3,600", "€1,100", "€1,600", "1"),
        "K2": ("1", "€400", "€400", "€400", "1"),
        "unassigned": ("1", "€250", "€250", "€250", "1"),
    }.items():
        at.selectbox[0].set_value(collector).run()
        assert not at.exception
        tiles = {m.label: m.value for m in at.metric}
        assert tiles["Items"] == items and tiles["Open balance"] == worklist_open, collector
        assert tiles["New since yesterday"] == new and tiles["Broken promises"] == "0", collector
        assert f"All open AR of these customers: {open_ar}, of which past due {past_due}." in [
            c.value for c in at.caption
        ], collector

    # The list itself under human headers (core/formatting via ui.table): no column name shows.
    grid = next(d for d in at.dataframe if "priority_reason" in d.value.columns)
    labels = {name: config["label"] for name, config in json.loads(grid.proto.columns).items() if "label" in config}
    assert labels["priority_reason"] == "Why today" and labels["open_balance"] == "Open balance"
    assert labels["expected_recoverable_rc"] == "Expected recoverable (EUR)"
    assert not [label for label in labels.values() if "_" in label], labels
    assert grid.value["invoice_id"].tolist() == ["I7"]  # the unassigned group's one item, shown last


# ---- the worklist page in a real browser (Chromium via Playwright) on the collectors' world ----


def test_worklist_page_in_a_browser_lists_the_hand_worked_order_with_its_reasons(
    collector_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kim Collector (K1, the first collector, the page's default) on tests/mail_world.py's world,
    as Chromium draws the page: today's top 2, then every item behind the toggle, in the order
    worked out by hand below, each with its reason; the grid's text and the Excel download agree."""
    from tests.test_dashboards import read_xlsx, serve_dashboards
    from tests.test_pages_as_users import chromium_tab, grid_rows, grow_and_shoot, problems_of, read_page, show_whole

    # K1's items on the list at 2026-11-30, open balance in EUR, days past due and what happens
    # next (tests/mail_world.py); I4, due in 30 days, is not on the list. Recovery likelihood is 1
    # in every bucket: the only history whose 91-day window has passed is I6's 700 (current at the
    # Aug 31 month-end, paid Sep 10), paid in full, and older buckets without history take the
    # younger rate. Urgency 2 for all three (due within a week, or slipping into the next aging
    # bucket within 7 days); priority = balance × likelihood × urgency.
    items = {
        "I1": (800.00, "Slips into 61-90 in 1 day"),  # 60 days past due (due Oct 1)
        "I2": (500.00, "Due tomorrow"),  # due Dec 1
        "I3": (300.00, "Slips into 31-60 in 1 day"),  # 30 days past due (due Oct 31)
    }
    priority = {invoice: balance * 1.0 * 2 for invoice, (balance, _) in items.items()}
    order = sorted(items, key=lambda invoice: (-priority[invoice], -items[invoice][0], invoice))
    assert order == ["I1", "I2", "I3"]  # 1,600 > 1,000 > 600

    monkeypatch.setenv("O2C_DATA_DIR", str(collector_world))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    monkeypatch.setenv("O2C_REPORTING_CURRENCY", "EUR")
    monkeypatch.setenv("O2C_COLLECTOR_DAILY_ITEMS", "2")  # fewer than K1's three: the cut shows
    for name in ("O2C_SERVING_PATH", "O2C_WAREHOUSE_PATH", "O2C_CONTRACT_DIR"):
        monkeypatch.delenv(name, raising=False)
    top, every = tmp_path / "worklist-top.png", tmp_path / "worklist-all.png"
    with serve_dashboards(tmp_path) as url, chromium_tab() as tab:
        show_whole(tab, f"{url}/worklist", top)
        assert tab.locator('[data-testid="stMain"] h1').first.inner_text() == "Collections worklist"
        assert tab.get_by_role("combobox", name="Collector").input_value() == "Kim Collector"
        problems = problems_of(read_page(tab), symbol="€")  # labels in words, money in euros, no "None"
        progress = tab.locator('[data-testid="stProgress"]').first.inner_text()
        today = grid_rows(tab.locator('[data-testid="stDataFrame"]').first)
        # Every item: the toggle under the tiles, then the list drawn again.
        tab.get_by_text(f"Show all {len(items)} items").click()
        tab.wait_for_function(
            "n => document.querySelector('[data-testid=\"stDataFrame\"] tbody')?.querySelectorAll('[role=\"row\"]').length === n",
            arg=len(items),
            timeout=30_000,
        )
        grow_and_shoot(tab, every)
        problems += problems_of(read_page(tab), symbol="€")
        shown = grid_rows(tab.locator('[data-testid="stDataFrame"]').first)
        with tab.expect_download() as download:
            tab.locator('[data-testid="stDownloadButton"] button', has_text="Download Excel").first.click()
        rows, formulas = read_xlsx(Path(download.value.path()).read_bytes())
    assert not problems, f"{problems} (see {top}, {every})"
    assert top.stat().st_size > 10_000 and every.stat().st_size > 10_000

    assert "Today: 0 of 2 items worked" in progress, progress
    # Today's top 2, then all three, in rank order, each with its reason, as the grid draws them
    # (its accessible DOM holds values, not formats: the amounts are checked to the cent in Excel).
    assert [(r["Rank"], r["Invoice ID"], r["Why today"]) for r in today] == [
        (str(rank), invoice, items[invoice][1]) for rank, invoice in enumerate(order[:2], start=1)
    ], today
    assert [(r["Rank"], r["Invoice ID"], r["Why today"]) for r in shown] == [
        (str(rank), invoice, items[invoice][1]) for rank, invoice in enumerate(order, start=1)
    ], shown
    # The Excel download of the list: the same order and reasons, balances to the cent, expected
    # recoverable = balance × 1; I2 (21 days from due on the previous data day, Nov 10) is new.
    # (a row's empty trailing cells are not in the file: padded here)
    header = rows[0]
    body = [dict(zip(header, row + [None] * (len(header) - len(row)), strict=True)) for row in rows[1:]]
    assert not formulas and "Why today" in header
    assert [(r["Rank"], r["Invoice ID"], r["Why today"]) for r in body] == [
        (rank, invoice, items[invoice][1]) for rank, invoice in enumerate(order, start=1)
    ]
    assert [(r["Open balance"], r["Expected recoverable (EUR)"]) for r in body] == [
        (items[invoice][0], items[invoice][0]) for invoice in order
    ]
    assert [r["New since yesterday"] or "" for r in body] == ["", "Now due within a week", ""]
