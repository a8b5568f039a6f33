"""The collector's day on a hand-written serving file: the daily email carries the top N of the
worklist in its order, totals and what changed since yesterday, formatted, without "None" or
"nan" where optional values are missing, and arrives through a real SMTP server (aiosmtpd).
The worklist's order itself is proven by the dbt unit test worklist_ranks_what_is_worth_a_call_today."""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller

from alerts import collector_report, data, mail
from alerts.config import AlertConfig

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
"""


class Inbox:
    """aiosmtpd handler keeping every message it accepted."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def serving(tmp_path: Path) -> Path:
    path = tmp_path / "serving.duckdb"
    con = duckdb.connect(str(path))
    con.execute(WORLD)
    con.close()
    return path


def test_daily_email_is_short_formatted_and_says_what_changed(serving: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
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

    # Totals of K1's customers, by hand: open 1,300.25 + 842.10 + 99.99 + 500.00 = 2,742.34 → €2,742;
    # past due (days > 0) 1,300.25 + 99.99 = 1,400.24 → €1,400; one broken promise on 1,300.25 → €1,300.
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
