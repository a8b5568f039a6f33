"""Outgoing messages against a real SMTP server (aiosmtpd on localhost): one exception report per
collector with only their customers and a CSV that reconciles, nothing sent twice, dunning level by
level, an SMTP outage that loses nothing, the digest's chart. The dunning letters themselves and
header and markup injection: tests/test_dunning.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import duckdb
import polars as pl
import pytest

from alerts import mail, runner, sendlog
from alerts.config import AlertConfig
from tests import mail_world
from tests.conftest import o2c

END = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def template(dashboard_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built world whose ops store holds a promise that was broken before the as-of date: a
    copy of the dashboards' world (tests/conftest.py, built once per session)."""
    data = tmp_path_factory.mktemp("alerts") / "data"
    shutil.copytree(dashboard_world, data)
    serving = data / "warehouse" / "serving.duckdb"
    con = duckdb.connect(str(serving), read_only=True)
    item = con.sql(
        "select a.invoice_id, a.customer_id, c.collector_id from marts.fct_ar_aging a join marts.dim_customers c "
        "using (customer_id) where a.as_of_date = ? and a.days_past_due between 5 and 20 order by a.invoice_id limit 1",
        params=[END],
    ).fetchall()[0]
    con.close()
    from core import ops_store

    ops_store.record(
        f"sqlite:///{data / 'ops' / 'ops.sqlite'}",
        ops_store.Action(
            customer_id=item[1],
            collector_id=item[2],
            action_type="promise_to_pay",
            action_date=END - dt.timedelta(days=10),
            invoice_id=item[0],
            promised_date=END - dt.timedelta(days=3),
            promised_amount=Decimal("500.00"),
        ),
    )
    o2c(data, "run")  # the promise reaches the marts; it is broken (its date passed, still open)
    return data


@pytest.fixture
def world(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    shutil.copytree(template, data)
    monkeypatch.setenv("O2C_DATA_DIR", str(data))
    for name in ("O2C_OPS_URL", "O2C_SERVING_PATH", "O2C_WAREHOUSE_PATH", "O2C_ERP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("O2C_CFO_EMAILS", "cfo@example.com")
    monkeypatch.setenv("O2C_ALERT_EMAILS", "controller@example.com")
    return data


def mart(data: Path, sql: str, params: list[object] | None = None) -> pl.DataFrame:
    con = duckdb.connect(str(data / "warehouse" / "serving.duckdb"), read_only=True)
    try:
        return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    finally:
        con.close()


def attachment_csv(message: EmailMessage) -> pl.DataFrame:
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "text/csv"]
    assert len(parts) == 1
    content = parts[0].get_content()
    text = content.decode() if isinstance(content, bytes) else content
    assert next(iter(csv.reader(io.StringIO(text))))[0] == "section"
    return pl.read_csv(io.StringIO(text), schema_overrides={"invoice_id": pl.String, "customer_id": pl.String})


def test_scheduled_collector_reports_one_email_each_with_only_their_customers(
    world: Path, smtp: mail_world.Inbox
) -> None:
    from orchestration.definitions import defs

    result = defs().get_job_def("collector_reports").execute_in_process()
    assert result.success
    collectors = mart(world, "select distinct collector_id, collector_name, collector_email from marts.dim_customers")
    owners = mart(world, "select customer_id, collector_id from marts.dim_customers")
    expected = mart(
        world,
        "select c.collector_id, count(*) as n, sum(a.open_balance_rc)::double as rc from marts.fct_ar_aging a "
        "join marts.dim_customers c using (customer_id) where a.as_of_date = ? and a.days_past_due > 30 group by 1",
        [END],
    )
    over_limit = mart(
        world,
        "select c.collector_id, count(*) as n from marts.fct_customer_credit_exposure e "
        "join marts.dim_customers c using (customer_id) where e.is_over_credit_limit group by 1",
    )
    with_exceptions = set(expected["collector_id"]) | set(over_limit["collector_id"])
    assert len(smtp.messages) == len({m["To"] for m in smtp.messages}) >= len(with_exceptions) >= 2
    emails = {row[2]: row[0] for row in collectors.iter_rows()}
    seen_broken = False
    for message in smtp.messages:
        address = message["To"].addresses[0].addr_spec
        collector = emails[address]
        rows = attachment_csv(message)
        mine = set(owners.filter(pl.col("collector_id") == collector)["customer_id"])
        assert set(rows["customer_id"]) <= mine, collector  # nobody else's customers
        past_due = rows.filter(pl.col("section") == "past_due")
        want = expected.filter(pl.col("collector_id") == collector)
        assert past_due.height == (want["n"][0] if want.height else 0)
        assert past_due["open_balance_rc"].sum() == pytest.approx(want["rc"][0] if want.height else 0, abs=0.01)
        limits = over_limit.filter(pl.col("collector_id") == collector)
        assert rows.filter(pl.col("section") == "over_credit_limit").height == (limits["n"][0] if limits.height else 0)
        seen_broken |= rows.filter(pl.col("section") == "broken_promise").height == 1
        html = message.get_body(("html",)).get_content()
        assert "/worklist" in html and str(END) in message["Subject"]
    assert seen_broken  # the promise broken in the ops store is reported to its collector

    # The same schedule again sends nothing new.
    before = len(smtp.messages)
    assert defs().get_job_def("collector_reports").execute_in_process().success
    assert len(smtp.messages) == before
    assert len(sendlog.sent(world / "warehouse" / "sendlog.sqlite", "collector_reports")) == before


def test_dunning_sends_each_level_once_and_only_the_next_level_after_the_world_moves(
    world: Path, smtp: mail_world.Inbox
) -> None:
    from core.settings import get_settings

    config = AlertConfig()
    first = runner.run("dunning", get_settings(), config=config)
    assert first.sent == len(smtp.messages) > 0
    # One email per customer, never one per invoice; disputed and promised items left out.
    recipients = [m["To"].addresses[0].addr_spec for m in smtp.messages]
    assert len(recipients) == len(set(recipients))
    log = world / "warehouse" / "sendlog.sqlite"
    sent_keys = {r["key"] for r in sendlog.sent(log, "dunning")}
    disputed = set(mart(world, "select invoice_id from marts.fct_invoices where is_disputed")["invoice_id"])
    assert not {k.split("/")[1] for k in sent_keys} & disputed
    assert runner.run("dunning", get_settings(), config=config).sent == 0  # nothing twice

    o2c(world, "simulate", "--advance", "7")
    o2c(world, "run")
    smtp.messages.clear()
    runner.run("dunning", get_settings(), config=config)
    new_keys = {r["key"] for r in sendlog.sent(log, "dunning")} - sent_keys
    assert new_keys
    order = {level.name: i for i, level in enumerate(config.dunning_levels)}
    earlier = {}
    for key in sent_keys:
        _, invoice, level = key.split("/")
        earlier[invoice] = max(earlier.get(invoice, -1), order[level])
    for key in new_keys:
        _, invoice, level = key.split("/")
        assert order[level] > earlier.get(invoice, -1), key  # a higher level than before, never a repeat
    # Each email goes to a customer with a newly reached level and lists that invoice.
    numbers = dict(mart(world, "select invoice_id, invoice_number from marts.fct_invoices").iter_rows())
    emails = dict(mart(world, "select customer_id, billing_email from marts.dim_customers").iter_rows())
    owner = dict(mart(world, "select invoice_id, customer_id from marts.fct_invoices").iter_rows())
    new_by_address: dict[str, set[str]] = {}
    for key in new_keys:
        invoice = key.split("/")[1]
        new_by_address.setdefault(emails[owner[invoice]], set()).add(invoice)
    assert {m["To"].addresses[0].addr_spec for m in smtp.messages} == set(new_by_address)
    for message in smtp.messages:
        body = message.get_body(("plain",)).get_content()
        for invoice in new_by_address[message["To"].addresses[0].addr_spec]:
            assert numbers[invoice] in body


def test_an_smtp_outage_fails_clearly_records_nothing_and_a_retry_sends(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("O2C_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("O2C_SMTP_PORT", str(mail_world.free_port()))  # nobody listens there
    monkeypatch.setenv("O2C_SMTP_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("O2C_SMTP_USER", "o2c")
    with pytest.raises(mail.SmtpError) as failure:
        runner.run("collector_reports", get_settings())
    assert "127.0.0.1" in str(failure.value) and "s3cret-pw" not in str(failure.value)
    log = world / "warehouse" / "sendlog.sqlite"
    assert sendlog.sent(log) == []
    cli = o2c(world, "alerts", "send", "--kind", "collector_reports", check=False)
    assert cli.returncode == 1 and "not sent" in cli.stdout

    with mail_world.smtp_server() as inbox:
        monkeypatch.setenv("O2C_SMTP_PORT", str(inbox.port))
        monkeypatch.delenv("O2C_SMTP_USER")
        outcome = runner.run("collector_reports", get_settings())
    assert outcome.sent == len(inbox.messages) > 0
    assert len(sendlog.sent(log)) == outcome.sent


def test_cfo_digest_has_its_aging_chart_inline(world: Path, smtp: mail_world.Inbox) -> None:
    from core.settings import get_settings

    outcome = runner.run("cfo_digest", get_settings())
    assert outcome.sent == 1
    message = smtp.messages[0]
    assert message["To"].addresses[0].addr_spec == "cfo@example.com"
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    png = images[0].get_content()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    html = message.get_body(("html",)).get_content()
    assert f"cid:{images[0]['Content-ID'].strip('<>')}" in html
    open_ar = mart(
        world, "select open_ar_rc::double as v from marts.fct_ar_kpis_monthly order by month_start desc limit 1"
    )
    assert f"{open_ar['v'][0]:,.0f}" in html
    assert runner.run("cfo_digest", get_settings()).sent == 0  # once a week


def test_threshold_alerts_credit_holds_and_previews(world: Path, smtp: mail_world.Inbox) -> None:
    from core.settings import get_settings

    settings = get_settings()
    config = AlertConfig(dso_target_days=1.0)  # every month breaches this target
    outcome = runner.run("threshold_alerts", settings, config=config)
    assert outcome.sent == 1
    text = smtp.messages[0].get_body(("plain",)).get_content()
    assert "dso_above_target" in text
    over = mart(world, "select customer_id from marts.fct_customer_credit_exposure where is_over_credit_limit")
    for customer in over["customer_id"]:
        assert customer in text
    assert runner.run("threshold_alerts", settings, config=config).sent == 0

    first = runner.write_back(settings)
    again = runner.write_back(settings)
    assert first["recommended"] == again["recommended"] >= over.height
    assert first["inserted"] == first["recommended"] and again == {**first, "inserted": 0, "updated": 0}
    erp = world / "sources" / "erp.sqlite"
    import sqlite3

    con = sqlite3.connect(erp)
    held = {r[0] for r in con.execute("select customer_id from o2c_credit_hold_recommendations where recommend_hold")}
    con.close()
    assert set(over["customer_id"]) <= held

    preview = o2c(world, "alerts", "preview", "--kind", "dunning")
    assert "rendered to" in preview.stdout
    files = list((world / "outbox" / "dunning").glob("*.eml"))
    assert files and all(f.with_suffix(".html").exists() for f in files)


def test_threshold_alerts_also_go_to_the_webhook(
    world: Path, smtp: mail_world.Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from core.settings import get_settings

    received: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("O2C_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
        outcome = runner.run("threshold_alerts", get_settings(), config=AlertConfig(dso_target_days=1.0))
    finally:
        server.shutdown()
    assert outcome.sent == 1
    (payload,) = received
    assert any(key.startswith("alert/dso_above_target/") for key in payload["alerts"])
    assert payload["subject"] == smtp.messages[0]["Subject"]
