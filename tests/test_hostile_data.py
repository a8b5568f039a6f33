"""Hostile data made harmless everywhere it leaves the warehouse (issue 19, point 2).

A hand-made export world whose customer names, collector names, payer names and remittance lines
are the payloads of tests/hostile_payloads.py, and whose billing and collector emails include
every bad address form, is built once by a real `o2c run` (dbt on DuckDB, serving file published).
Then every output is read back: the pages (AppTest of each page, and Customer 360 in Chromium
with every request recorded), the CSV and Excel downloads, the emails (a real aiosmtpd server),
and the threshold webhook (a real local HTTP server).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from html import escape
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import polars as pl
import pytest
from aiosmtpd.controller import Controller
from markdown_it import MarkdownIt

from alerts import recipients
from core import formatting
from tests import mail_world
from tests.conftest import DATA_PAGES, built_once
from tests.hostile_payloads import BAD_EMAILS, EVIL, GOOD_EMAILS, TEXTS
from tests.own_data import serving_query, write_csv

AS_OF = dt.date(2026, 11, 30)
FORMULA_STARTS = formatting.FORMULA_STARTS

# ---- The world ---------------------------------------------------------------------------
#
# Customer H<nn> is named TEXTS[nn] and pays from ap<nn>@acme.example; E<nn> has BAD_EMAILS[nn]
# as its billing email; G<n> has GOOD_EMAILS[n]. Each has one invoice of 1,000.00 EUR dated
# 2026-10-01, due 2026-10-31: 30 days past due on 2026-11-30 (dunning level overdue_30), and a
# credit limit of 100.00, so each is over its limit. Collectors: K1 (an HTML name, a good
# address), K2 (a markdown name, a good address), K3 (a formula name, a comma list: refused);
# customers go to K1, K2, K3 in turn. One unapplied receipt of 123.45 from H-markdown's customer
# carries a markdown remittance line and an HTML payer name.
COLLECTORS = (
    ("K1", "<b>Kim</b> <script>alert(1)</script>", "kim@acme.example"),
    ("K2", f"[Lee](http://{EVIL}/lee)", "lee@acme.example"),
    ("K3", '=HYPERLINK("http://evil.example","Max")', f"max@acme.example, spy@{EVIL}"),
)
MARKDOWN_CUSTOMER = next(f"H{i:02d}" for i, p in enumerate(TEXTS) if p.name == "md_link_and_image")
REMITTANCE = f"[Pay here](http://{EVIL}/pay) ![x](http://{EVIL}/r.png)"
PAYER = f'<img src="http://{EVIL}/payer.png">'


def customers() -> list[dict[str, str]]:
    rows = [(f"H{i:02d}", p.text, f"ap{i:02d}@acme.example") for i, p in enumerate(TEXTS)]
    rows += [(f"E{i:02d}", f"Bad email {p.name}", p.text) for i, p in enumerate(BAD_EMAILS)]
    rows += [(f"G{i}", f"Good email {i}", value) for i, (value, _) in enumerate(GOOD_EMAILS)]
    return [
        {
            "customer_id": customer_id,
            "customer_name": name,
            "currency": "EUR",
            "payment_terms_days": "30",
            "credit_limit": "100.00",
            "collector_id": COLLECTORS[n % 3][0],
            "billing_email": billing,
            "language": "en",
        }
        for n, (customer_id, name, billing) in enumerate(rows)
    ]


def write_world(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    people = customers()
    write_csv(folder / "customers.csv", people)
    write_csv(
        folder / "collectors.csv",
        [{"collector_id": k, "collector_name": name, "email": address} for k, name, address in COLLECTORS],
    )
    write_csv(
        folder / "invoices.csv",
        [
            {
                "invoice_id": f"I-{c['customer_id']}",
                "invoice_number": f"N-{c['customer_id']}",
                "customer_id": c["customer_id"],
                "invoice_date": "2026-10-01",
                "due_date": "2026-10-31",
                "currency": "EUR",
                "invoice_amount": "1000.00",
            }
            for c in people
        ]
        # the as-of date: the latest invoice, not yet due
        + [
            {
                "invoice_id": "I-LAST",
                "invoice_number": "N-LAST",
                "customer_id": "G0",
                "invoice_date": AS_OF.isoformat(),
                "due_date": "2026-12-30",
                "currency": "EUR",
                "invoice_amount": "10.00",
            }
        ],
    )
    write_csv(
        folder / "payments.csv",
        [
            {
                "payment_id": "P1",
                "customer_id": MARKDOWN_CUSTOMER,
                "payer_name": PAYER,
                "payment_date": "2026-11-20",
                "amount": "123.45",
                "currency": "EUR",
                "remittance_info": REMITTANCE,
            }
        ],
    )
    return folder


@pytest.fixture(scope="session")
def hostile_world(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The world above run through `o2c run` once a session (serving file published). Read it only."""

    def build(data: Path) -> None:
        from tests.conftest import o2c

        export = write_world(data.parent / "hostile_export")
        o2c(data, "run", env={"O2C_CONTRACT_DIR": str(export), "O2C_REPORTING_CURRENCY": "EUR"})

    return built_once(tmp_path_factory, worker_id, "hostile", build)


@pytest.fixture
def world_env(hostile_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings on the built world, with this test's own ops store (send log, actions)."""
    monkeypatch.setenv("O2C_DATA_DIR", str(hostile_world))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    monkeypatch.setenv("O2C_REPORTING_CURRENCY", "EUR")
    for name in ("O2C_SERVING_PATH", "O2C_WAREHOUSE_PATH", "O2C_CONTRACT_DIR"):
        monkeypatch.delenv(name, raising=False)
    return hostile_world


def published_names() -> dict[str, str]:
    """customer_id → the name as the published build holds it (the load trims surrounding
    whitespace: "\\t=1+1" arrives as "=1+1")."""
    from core.settings import get_settings

    frame = serving_query(get_settings().data_dir, "select customer_id, customer_name from marts.dim_customers")
    return dict(frame.iter_rows())


# ---- Pure rules over the whole catalogue (fast tier) ---------------------------------------

CONTROL = "\x00-\x1f\x7f-\x9f\u2028\u2029"


@pytest.mark.check
def test_the_catalogue_has_every_kind_of_payload() -> None:
    kinds = {p.kind for p in TEXTS + BAD_EMAILS}
    assert kinds == {"sql", "html", "template", "markdown", "crlf", "formula", "unicode", "chat", "email"}
    assert len(TEXTS) + len(BAD_EMAILS) >= 50
    assert len({p.name for p in TEXTS}) == len(TEXTS) and len({p.name for p in BAD_EMAILS}) == len(BAD_EMAILS)


@pytest.mark.check
@pytest.mark.parametrize("payload", BAD_EMAILS, ids=lambda p: p.name)
def test_a_bad_email_field_is_refused_with_its_reason(payload) -> None:
    with pytest.raises(recipients.BadAddress):
        recipients.one(payload.text)
    line = recipients.report("dunning: customer 'E1'", "billing_email", payload.text, "x", "1 item not reminded")
    assert "\r" not in line and "\n" not in line and line.startswith("dunning: customer 'E1': billing_email ")


@pytest.mark.check
def test_the_forms_an_email_field_may_hold_are_accepted() -> None:
    assert [recipients.one(value) for value, _ in GOOD_EMAILS] == [address for _, address in GOOD_EMAILS]


@pytest.mark.check
@pytest.mark.parametrize("payload", TEXTS, ids=lambda p: p.name)
def test_a_name_in_a_header_stays_one_display_name(payload) -> None:
    """Every name as the display name of a real message: one To address, no added header."""
    from alerts import mail

    built = mail.build(
        mail.Email("k/1", (recipients.header(payload.text, "ap@acme.example"),), "Subject", "<p>x</p>", "x"),
        "o2c <o2c@acme.example>",
    )
    parsed = message_from_bytes(bytes(built), policy=policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ap@acme.example"]
    assert sorted(parsed.keys()) == sorted(
        ["From", "To", "Subject", "Message-ID", "X-O2C-Key", "Content-Type", "MIME-Version"]
    )
    # The name as written, on one line and without invisible characters (recipients.display_name).
    assert parsed["To"].addresses[0].display_name == recipients.display_name(payload.text)
    assert not any(c in parsed["To"].addresses[0].display_name for c in "\r\n\x00\u202e\u200b")


@pytest.mark.check
@pytest.mark.parametrize("payload", TEXTS, ids=lambda p: p.name)
def test_markdown_shows_every_payload_as_its_literal_text(payload) -> None:
    """ui.plain through a CommonMark parser (with GFM tables and strikethrough): one paragraph
    holding exactly the text, no link, image, emphasis, heading, list, code or HTML."""
    import html

    from dashboards import ui

    shown = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(ui.plain(payload.text))
    rendered = shown.replace(ui.WORD_JOINER, "")  # invisible: what keeps autolinks text
    literal = re.sub(f"[{CONTROL}]+", " ", payload.text).strip()
    escaped = html.escape(literal, quote=False).replace('"', "&quot;")  # as markdown-it writes text
    assert rendered == f"<p>{escaped}</p>\n"


@pytest.mark.check
def test_spreadsheet_cells_are_quoted_only_when_text_starts_a_formula() -> None:
    frame = pl.DataFrame(
        {
            "customer_name": [p.text for p in TEXTS],
            "amount": [-12.5] * len(TEXTS),  # a negative amount is a number, not a formula
        }
    )
    safe = formatting.spreadsheet_safe(frame)
    assert safe.schema == frame.schema and safe["amount"].to_list() == [-12.5] * len(TEXTS)
    for payload, cell in zip(TEXTS, safe["customer_name"], strict=True):
        formula = payload.text[:1] in ("=", "+", "-", "@", "\t", "\r", "\uff1d")
        assert cell == ("'" + payload.text if formula else payload.text), payload.name
    assert formatting.spreadsheet_text(None) is None and formatting.spreadsheet_text("") == ""


# ---- Emails and the webhook -----------------------------------------------------------------

REFUSED = "ap05@acme.example"  # the server refuses this one recipient


class RecordingSmtp:
    """aiosmtpd handler keeping each accepted message with its envelope recipients, refusing
    REFUSED with 550 like a server that does not know the mailbox."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], object]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == REFUSED:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@contextmanager
def smtp_recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingSmtp]:
    handler = RecordingSmtp()
    port = mail_world.free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("O2C_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("O2C_SMTP_PORT", str(port))
    try:
        yield handler
    finally:
        controller.stop()


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[bytes]]]:
    """A real HTTP server on 127.0.0.1 keeping every POSTed body."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    finally:
        server.shutdown()
        server.server_close()


def html_tags(document: str) -> list[tuple[str, dict[str, str | None]]]:
    from html.parser import HTMLParser

    tags: list[tuple[str, dict[str, str | None]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Collect().feed(document)
    return tags


def assert_harmless_html(document: str) -> None:
    """Only the templates' own markup: no script, frame, svg or image from the data, no event
    handler, nothing that points at the evil host."""
    for tag, attrs in html_tags(document):
        assert tag not in {"script", "iframe", "svg", "img", "a"} or not any(
            EVIL in (v or "") or (v or "").startswith("javascript:") for v in attrs.values()
        ), (tag, attrs)
        assert tag not in {"script", "iframe", "svg"}, tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not any(EVIL in (v or "") for v in attrs.values()), (tag, attrs)


@dataclass
class Sent:
    """One run of dunning, collector reports and threshold alerts on the world, in that order."""

    names: dict[str, str]
    dunning: object
    reports: object
    alerts: object
    received: list[tuple[list[str], object]]
    bodies: list[bytes]


@pytest.fixture(scope="module")
def sent(hostile_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Sent:
    from alerts import runner
    from alerts.config import AlertConfig
    from core.settings import get_settings

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("O2C_DATA_DIR", str(hostile_world))
        monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path_factory.mktemp('sent') / 'ops.sqlite'}")
        monkeypatch.setenv("O2C_REPORTING_CURRENCY", "EUR")
        monkeypatch.setenv("O2C_ALERT_EMAILS", "controller@acme.example")
        with webhook_receiver() as (hook, bodies), smtp_recording(monkeypatch) as server:
            monkeypatch.setenv("O2C_ALERT_WEBHOOK_URL", hook)
            config = AlertConfig(large_invoice_rc=500.0)
            # In the order `o2c alerts send` runs them: the skips and the refusal of the first
            # two kinds must not keep the threshold alerts from going.
            dunning = runner.run("dunning", get_settings(), config=config)
            reports = runner.run("collector_reports", get_settings(), config=config)
            alerts = runner.run("threshold_alerts", get_settings(), config=config)
        return Sent(published_names(), dunning, reports, alerts, server.received, bodies)


DUE = len(TEXTS) + len(BAD_EMAILS) + len(GOOD_EMAILS)  # every customer is 30 days past due


def test_dunning_skips_only_the_bad_addresses_and_the_refused_mailbox(sent: Sent) -> None:
    dunning, names = sent.dunning, sent.names
    good = {value: address for value, address in GOOD_EMAILS}
    expected_to = {f"H{i:02d}": f"ap{i:02d}@acme.example" for i in range(len(TEXTS))}
    expected_to |= {f"G{i}": good[value] for i, (value, _) in enumerate(GOOD_EMAILS)}
    # Dunning: every customer is 30 days past due. The 13 with a bad billing email are skipped,
    # each named with its column and value; the refused mailbox is reported; the rest went.
    assert len(dunning.skipped) == len(BAD_EMAILS)
    for i, payload in enumerate(BAD_EMAILS):
        line = next(s for s in dunning.skipped if s.startswith(f"dunning: customer 'E{i:02d}': billing_email "))
        stored = None if not payload.text.strip() else payload.text  # a blank cell loads as null
        assert repr(stored) in line and line.endswith("; 1 item not reminded"), line
        assert "\n" not in line and "\r" not in line
    assert len(dunning.refused) == 1 and REFUSED in dunning.refused[0] and "550" in dunning.refused[0]
    assert dunning.sent == len(expected_to) - 1
    assert dunning.sent + dunning.already_sent + len(dunning.skipped) + len(dunning.refused) == DUE
    letters = [(rcpt, m) for rcpt, m in sent.received if m["Subject"].startswith("Payment reminder")]
    assert len(letters) == dunning.sent
    for rcpt, message in letters:
        customer_id = message["X-O2C-Key"].split("/")[1].removeprefix("I-")
        assert rcpt == [expected_to[customer_id]], customer_id
        assert [a.addr_spec for a in message["To"].addresses] == rcpt
        assert message["To"].addresses[0].display_name == recipients.display_name(names[customer_id])
        assert "Bcc" not in message and "X-Injected" not in message and "\n" not in message["Subject"]
        html = message.get_body(("html",)).get_content()
        assert_harmless_html(html)
        payload = next((p for i, p in enumerate(TEXTS) if f"H{i:02d}" == customer_id), None)
        if payload is not None and payload.kind in ("html", "markdown", "sql", "template"):
            text = message.get_body(("plain",)).get_content()
            assert payload.text in text  # the plain text as written, the HTML escaped
            assert escape(payload.text, quote=False) in html
    assert not any(EVIL in r for rcpt, _ in sent.received for r in rcpt)


def test_collector_reports_skip_the_listed_address_and_quote_formula_cells(sent: Sent) -> None:
    reports, names = sent.reports, sent.names
    # Collector reports: K3's address is a list, so K3 gets none; K1 and K2 get theirs, with an
    # exceptions CSV in which no cell starts a formula.
    assert reports.skipped == [
        f"collector_reports: collector 'K3': email {COLLECTORS[2][2]!r} holds more than one address "
        "(one address per field); no report sent"
    ]
    sent_reports = [(rcpt, m) for rcpt, m in sent.received if m["Subject"].startswith("Your collections day")]
    assert sorted(rcpt[0] for rcpt, _ in sent_reports) == ["kim@acme.example", "lee@acme.example"]
    assert reports.sent == 2
    for _, message in sent_reports:
        assert_harmless_html(message.get_body(("html",)).get_content())
        attachment = next(p for p in message.iter_attachments() if p.get_filename().endswith(".csv"))
        rows = list(csv.DictReader(io.StringIO(attachment.get_payload(decode=True).decode("utf-8"))))
        assert rows, message["To"]
        for row in rows:
            assert not any(cell.startswith(FORMULA_STARTS) for cell in row.values()), row
            assert row["customer_name"] == formatting.spreadsheet_text(names[row["customer_id"]])


def test_threshold_alerts_still_go_and_the_webhook_text_is_escaped_for_chat(sent: Sent) -> None:
    alerts = sent.alerts
    # Threshold alerts still went after the skips and the refusal: every customer is over its
    # limit, and the webhook carries the texts escaped for a chat tool.
    assert alerts.sent == 1 and not alerts.skipped and not alerts.refused
    (body,) = sent.bodies
    posted = json.loads(body)
    for field in ("text", "subject"):
        assert "<" not in posted[field] and ">" not in posted[field], field
    assert "&lt;script&gt;alert('o2c')&lt;/script&gt;" in posted["text"]
    assert f"&lt;!channel&gt; &lt;http://{EVIL}/chat|Pay here&gt; @here" in posted["text"]
    assert len([k for k in posted["alerts"] if k.startswith("alert/credit_limit/")]) == DUE


# ---- Pages and downloads --------------------------------------------------------------------

PAGES = DATA_PAGES
# What a page may never render from markdown: a link, image or frame pointing at the evil host,
# or live markup.
FORBIDDEN_MARKUP = ("<img", "<script", "<iframe", "<svg", '<a href="javascript', f'{EVIL}"')


def markdown_shown(at) -> list[str]:
    """Every text the page passes through Streamlit's markdown."""
    elements = (at.title, at.header, at.subheader, at.caption, at.markdown, at.info, at.warning, at.error, at.success)
    return [element.value for group in elements for element in group]


def plotly_strings(at) -> list[str]:
    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for chart in at.get("plotly_chart"):
        walk(json.loads(chart.proto.spec))
    return out


def test_every_page_shows_the_payloads_as_text(world_env: Path) -> None:
    from streamlit.testing.v1 import AppTest

    from dashboards import ui
    from tests.test_dashboards import APP

    names = published_names()
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for name in PAGES:
        at = AppTest.from_file(str(APP), default_timeout=60)
        if name == "customer_360":
            at.query_params["customer"] = MARKDOWN_CUSTOMER
        at.run()
        at.switch_page(f"app_pages/{name}.py").run()
        assert not at.exception, (name, [e.value for e in at.exception])
        for text in markdown_shown(at):
            rendered = parser.render(text)
            assert not any(bad in rendered for bad in FORBIDDEN_MARKUP), (name, text)
        for text in plotly_strings(at):
            assert not any(bad in text for bad in ("<a ", "<img", "<script", "<svg")), (name, text)
        if name == "customer_360":
            assert [h.value for h in at.subheader] == [ui.plain(names[MARKDOWN_CUSTOMER])]
        if name == "worklist":  # K1's list: its top item's customer, escaped
            (heading,) = at.subheader
            assert heading.value.startswith("Log an action on I\\-")
        if name == "unapplied_cash":
            assert [h.value for h in at.subheader] == [f"P1 · {ui.plain(names[MARKDOWN_CUSTOMER])}"]
            assert any(c.value.endswith(f"remittance: {ui.plain(REMITTANCE)}") for c in at.caption)


def test_csv_and_excel_downloads_quote_formula_cells_and_keep_numbers(world_env: Path) -> None:
    from dashboards import ui
    from tests.test_dashboards import read_xlsx

    frame = serving_query(
        world_env,
        "select customer_id, customer_name, collector_name, -12.50::decimal(18,2) as credit_rc, "
        "open_ar_rc from marts.dim_customers order by customer_id",
    )
    names = dict(zip(frame["customer_id"], frame["customer_name"], strict=True))
    rows = list(csv.DictReader(io.StringIO(ui.csv_bytes(frame).decode("utf-8"))))
    assert len(rows) == frame.height == len(TEXTS) + len(BAD_EMAILS) + len(GOOD_EMAILS)
    for row in rows:
        assert not any(row[c].startswith(FORMULA_STARTS) for c in ("customer_name", "collector_name")), row
        assert row["customer_name"] == formatting.spreadsheet_text(names[row["customer_id"]])
        assert row["credit_rc"] == "-12.50"  # a negative amount stays a number
    sheet, formulas = read_xlsx(ui.excel(frame))
    assert formulas == 0
    for cells in sheet[1:]:
        # the file writes control characters as OOXML escapes (_x000D_), which Excel reads back
        shown = re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), cells[1])
        assert shown == formatting.spreadsheet_text(names[cells[0]])
        assert not str(cells[2]).startswith(FORMULA_STARTS)
        assert cells[3] == -12.5  # a number cell, not text


def shown_text(locator) -> str:
    """What a reader sees in an element (the invisible word joiners of ui.plain left out)."""
    from dashboards import ui

    return locator.inner_text().replace(ui.WORD_JOINER, "").strip()


def test_customer_360_and_a_receipt_in_a_real_browser_fetch_nothing_external(world_env: Path, tmp_path: Path) -> None:
    """Chromium on `streamlit run`: the markdown customer's name and the receipt's payer and
    remittance line show literally, and the page asks no host but the app for anything."""
    from playwright.sync_api import sync_playwright

    from tests.test_dashboards import CHROMIUM, serve_dashboards

    name = published_names()[MARKDOWN_CUSTOMER]
    outside: list[str] = []
    with serve_dashboards(tmp_path) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            tab = browser.new_page(viewport={"width": 1500, "height": 1100})

            def only_the_app(route) -> None:
                if route.request.url.startswith(url):
                    route.continue_()
                else:  # recorded, and never let out of the machine
                    outside.append(route.request.url)
                    route.abort()

            tab.route("**/*", only_the_app)
            tab.goto(f"{url}/customer_360?customer={MARKDOWN_CUSTOMER}")
            # (has_text would not see through the word joiners: found by a part without one)
            heading = tab.locator('[data-testid="stHeading"]').filter(has_text="evil.example/i.png")
            heading.first.wait_for(timeout=60_000)
            assert shown_text(heading.first) == name
            tab.goto(f"{url}/unapplied_cash?payment=P1")
            caption = tab.locator('[data-testid="stCaptionContainer"]').filter(has_text="remittance")
            caption.first.wait_for(timeout=60_000)
            assert shown_text(caption.first).endswith(f"remittance: {REMITTANCE}")
            headings = [shown_text(h) for h in tab.locator('[data-testid="stHeading"]').all()]
            assert f"P1 · {name}" in headings
            tab.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
            for selector in (f'a[href*="{EVIL}"]', f'img[src*="{EVIL}"]', f'iframe[src*="{EVIL}"]'):
                assert tab.locator(selector).count() == 0, [
                    tab.locator(selector).nth(i).evaluate("e => e.parentElement.outerHTML")
                    for i in range(tab.locator(selector).count())
                ]
        finally:
            browser.close()
    assert [u for u in outside if EVIL in u] == []


def test_the_credit_hold_csv_quotes_formula_names(world_env: Path, tmp_path: Path) -> None:
    from alerts import data, writeback
    from alerts.config import AlertConfig
    from core.settings import get_settings

    frame = writeback.recommend(data.snapshot(get_settings().serving), AlertConfig())
    rows = list(csv.DictReader(writeback.write_csv(tmp_path, frame, AS_OF).open(encoding="utf-8", newline="")))
    names = published_names()
    assert len(rows) == DUE  # every customer is over its limit of 100.00
    for row in rows:
        assert row["customer_name"] == formatting.spreadsheet_text(names[row["customer_id"]])
        assert not row["customer_name"].startswith(FORMULA_STARTS)


@pytest.mark.check
def test_a_message_whose_header_cannot_be_built_is_skipped_and_the_others_go(
    smtp: mail_world.Inbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invoice id with a line break makes the X-O2C-Key header unbuildable: that letter is
    skipped with its reason, the other customer's letter goes (hand-built serving file)."""
    from alerts import runner
    from core.settings import get_settings

    serving = tmp_path / "serving.duckdb"
    with mail_world.serving_file(serving) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.dim_customers as select * from (values "
            "('C1', 'Good GmbH', 'K1', 'ap@good.example', 'en', 'DE'), "
            "('C2', 'Broken Ltd', 'K1', 'ap@broken.example', 'en', 'GB')) "
            "as t(customer_id, customer_name, collector_id, billing_email, language, country)"
        )
        con.execute(
            "create table marts.fct_ar_aging as select * from (values "
            "(date '2026-11-30', 'I1', 'C1', 'EUR', date '2026-10-01', date '2026-10-31', 30, '1-30', "
            "100.00::decimal(18,2), 100.00::decimal(18,2)), "
            "(date '2026-11-30', E'I2\\r\\nX-Evil: 1', 'C2', 'EUR', date '2026-10-01', date '2026-10-31', 30, "
            "'1-30', 200.00::decimal(18,2), 200.00::decimal(18,2))) as t(as_of_date, invoice_id, customer_id, "
            "currency, invoice_date, due_date, days_past_due, aging_bucket, open_balance, open_balance_rc)"
        )
        con.execute(
            "create table marts.fct_invoices as select invoice_id, 'N-' || customer_id as invoice_number, "
            "false as is_disputed from marts.fct_ar_aging"
        )
        con.execute(
            "create table marts.fct_collection_actions (invoice_id varchar, is_latest_promise boolean, "
            "promise_status varchar)"
        )
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("O2C_SERVING_PATH", str(serving))
    monkeypatch.delenv("O2C_OPS_URL", raising=False)
    monkeypatch.delenv("O2C_ALERTS_CONFIG", raising=False)
    outcome = runner.run("dunning", get_settings())
    assert (outcome.sent, len(outcome.skipped), outcome.refused) == (1, 1, [])
    assert outcome.skipped[0].startswith("dunning: 'dunning/I2\\r\\nX-Evil: 1/overdue_30' to ")
    assert "not built" in outcome.skipped[0]
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages] == ["ap@good.example"]
    assert outcome.summary() == "dunning: 1 sent, 0 already sent before, 1 skipped, 0 refused by the server"
