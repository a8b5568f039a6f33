"""A collector sees and acts on their own customers only; what the worklist and the unapplied-cash
page save is what the next run loads.

The world is tests/mail_world.py's collectors' world, built by a real `o2c run` (the
`collector_world` fixture): Kim Collector (K1) has C1 Acme GmbH and C2 Bolt Ltd; Lee Collector
(K2) has C3 Crane SA (invoices I5, I6, payment P2); C4 Delta Oy (I7) has no collector. Every page
is opened as Kim (AppTest, the viewer set in the session as dashboards/auth.py reads it), and
nothing of C3 or C4 may appear on it: no name, id, invoice number, email or amount; the same
pages opened as a controller show them, so the check can fail. Customer 360 is also opened by
URL in a real Chromium, with another collector's customer in the link and with her own, whose
Excel download holds her invoices only.

The ops store's validation (`Action.problems`, `ManualApplication.problems`) is checked against
the pipeline itself: each value is written to a real SQLite ops store as the page would save it,
read back by the ops connector and conformed to the contract; whatever the contract quarantines,
problems() refused with a clear message, and whatever problems() accepts loads unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from core import ops_store
from core.access import Viewer
from core.settings import REPO_ROOT
from dashboards.auth import SESSION_KEY
from tests.conftest import DATA_PAGES, point_the_app_at

APP = REPO_ROOT / "dashboards" / "streamlit_app.py"
QUERIES = REPO_ROOT / "dashboards" / "queries"
KIM = Viewer(username="kim", display_name="Kim Collector", role="collector", collector_id="K1")
ANALYST = Viewer(username="ana", display_name="Ana Lyst", role="analyst")
CONTROLLER = Viewer(username="cara", display_name="Cara Controller", role="controller")
MINE = {"C1", "C2"}
# What of C3 (K2's) and C4 (nobody's) a page could show: names, ids, invoice numbers, emails,
# collector; and (in tables and tiles) their amounts, which no K1 figure equals: C3's open 400
# and paid 700, C4's 250.
NOT_MINE = re.compile(
    r"Crane SA|Delta Oy|crane\.example|delta\.example|Lee Collector|lee@example\.com|"
    r"\bC3\b|\bC4\b|\bI5\b|\bI6\b|\bI7\b|\bP2\b|2026-00[567]"
)
NOT_MINE_AMOUNTS = re.compile(r"(?m)(?:^|,)(?:400|700|250)(?:\.0+)?(?=,|$)|€(?:400|700|250)(?![\d,])")
# The pages that show warehouse data (the audit page's refusal of a collector is checked below).
PAGES = DATA_PAGES


def shown(at) -> tuple[str, str]:
    """Everything a page run drew: (all elements' text, the tables' and tiles' values)."""
    texts: list[str] = []
    values: list[str] = []

    def walk(node) -> None:
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)
            return
        if getattr(node, "type", None) == "dataframe":
            table = node.value.to_csv(index=False)
            texts.append(table)
            values.append(table)
        elif getattr(node, "type", None) == "metric":
            values.append(f"{node.label} {node.value}")
            texts.append(str(node.proto))
        elif hasattr(node, "proto"):
            texts.append(str(node.proto))

    walk(at._tree)
    return "\n".join(texts), "\n".join(values)


def open_page(page: str, who: Viewer, **query: str):
    """One run of a page (its file, as the navigation runs it) for `who`, with URL parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP.parent / "app_pages" / f"{page}.py"), default_timeout=60)
    at.session_state[SESSION_KEY] = who
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, (page, [e.value for e in at.exception])
    return at


@pytest.fixture
def app_env(collector_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    point_the_app_at(collector_world, monkeypatch, tmp_path)
    monkeypatch.setenv("O2C_REPORTING_CURRENCY", "EUR")
    monkeypatch.delenv("O2C_CONTRACT_DIR", raising=False)
    return collector_world / "warehouse" / "serving.duckdb"


# ---- The one mechanism: a collector's connection ---------------------------------------------


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, list[str]]:
    rows = con.execute(
        "select table_schema, table_name, list(column_name order by ordinal_position) from information_schema.columns "
        "where table_catalog = ? group by all",
        [catalog],
    ).fetchall()
    return {f"{schema}.{name}": columns for schema, name, columns in rows}


def test_every_table_is_declared_and_every_query_reads_only_what_a_rule_covers(app_env: Path) -> None:
    from dashboards import scope

    con = duckdb.connect(str(app_env), read_only=True)
    try:
        tables = _tables(con, "serving")
    finally:
        con.close()
    # A new mart nobody declared would be empty for collectors (never everyone's rows): declare it.
    undeclared = sorted(t for t, columns in tables.items() if scope.rule(t, columns) == "undeclared")
    assert undeclared == [], f"declare these tables in dashboards/scope.py: {undeclared}"
    # Every table a query reads is in the serving file (so a rule covers it), and no query reaches
    # past the views to the attached file.
    read = set()
    for path in sorted(QUERIES.glob("*.sql")):
        text = re.sub(r"--[^\n]*", "", path.read_text())
        assert scope.PUBLISHED not in text, path.name
        read |= {f"{s}.{t}" for s, t in re.findall(r"\b(marts|forecasts|quality)\.(\w+)", text)}
        read |= {"main._meta"} if re.search(r"\b_meta\b", text) else set()
    assert read - set(tables) == set()
    # The declarations name real tables, and a customer-keyed table is never declared free.
    declared = scope.CUSTOMER_FREE | scope.COMPANY_WIDE | set(scope.MASKED)
    assert declared <= set(tables), declared - set(tables)
    assert not [t for t in declared if "customer_id" in tables[t]]


def test_a_collectors_connection_holds_their_customers_rows_and_nothing_else(app_env: Path) -> None:
    from dashboards import scope

    everything = duckdb.connect(str(app_env), read_only=True)
    mine = scope.open_for_collector(app_env, "K1")
    try:
        tables = _tables(everything, "serving")
        for table, columns in tables.items():
            rows = mine.sql(f"select * from {table}").pl()
            if "customer_id" in columns:
                expected = everything.execute(
                    f"select count(*) from {table} where customer_id in ('C1', 'C2')"
                ).fetchone()
                assert rows.height == expected[0], table
                assert set(rows["customer_id"].to_list()) <= MINE, table
            elif table == "marts.fct_collector_daily":
                assert rows["collector_id"].to_list() == ["K1"]
            elif table in scope.COMPANY_WIDE:
                assert rows.is_empty(), table
            elif table in scope.MASKED:
                assert rows.height == everything.execute(f"select count(*) from {table}").fetchone()[0]
                assert rows["sample_unexpected"].null_count() == rows.height
        # The worked world: K1's open AR is I1 800 + I2 500 + I3 300 + I4 2,000 (mail_world.py).
        open_ar = mine.execute("select sum(open_ar_rc) from marts.dim_customers").fetchone()[0]
        assert open_ar == Decimal("3600.00")
        assert everything.execute("select sum(open_ar_rc) from marts.dim_customers").fetchone()[0] == Decimal("4250.00")
        # Locked like every reader: no setting changes, no file reads.
        with pytest.raises(duckdb.Error):
            mine.execute("set enable_external_access = true")
        with pytest.raises(duckdb.Error):
            mine.execute(f"select * from read_csv('{REPO_ROOT / 'README.md'}')")
    finally:
        mine.close()
        everything.close()


# ---- Every page as Kim -----------------------------------------------------------------------


def test_every_page_as_a_collector_shows_only_her_customers(app_env: Path) -> None:
    assert len(PAGES) == 10
    audit = open_page("audit", KIM)
    assert [e.value for e in audit.error] == ["The collector role does not read the audit trail."]
    assert not audit.dataframe
    seen: dict[str, str] = {}
    runs = {}
    for page in PAGES:
        runs[page] = at = open_page(page, KIM)
        text, values = shown(at)
        assert not NOT_MINE.findall(text), (page, NOT_MINE.findall(text))
        assert not NOT_MINE_AMOUNTS.findall(values), (page, NOT_MINE_AMOUNTS.findall(values))
        assert "Your customers only (collector K1)" in text, page
        seen[page] = text
    # What she does see, worked out by hand (tests/mail_world.py).
    assert "Acme GmbH" in seen["customers"] and "Bolt Ltd" in seen["customers"]
    assert "Acme GmbH" in seen["ar_aging"] and "Acme GmbH" in seen["worklist"]
    tiles = {tile.label: tile.value for tile in runs["overview"].metric}
    assert tiles["Open AR, your customers"] == "€3,600"  # 800 + 500 + 300 + 2,000
    assert tiles["Past due AR, your customers"] == "€1,100"  # I1 800 + I3 300
    for page in ("cash_forecast", "cycle_times"):
        assert "company-wide figures: they are not shown to collectors" in seen[page], page

    # The same check finds the other customers where a controller looks: it can fail.
    text, values = shown(open_page("customers", CONTROLLER))
    assert {"Crane SA", "Delta Oy", "C3", "C4"} <= set(NOT_MINE.findall(text))
    assert NOT_MINE_AMOUNTS.findall(values)


def test_another_collectors_customer_by_url_or_id_is_not_found_and_cannot_be_acted_on(app_env: Path) -> None:
    import streamlit as st

    from dashboards import db

    at = open_page("customer_360", KIM, customer="C3")
    text, _ = shown(at)
    assert [w.value for w in at.warning] == [
        "The customer in this link is not found among the customers you may see. Pick one below."
    ]
    assert not NOT_MINE.findall(text.replace("C3", "")), NOT_MINE.findall(text)  # the link's own "C3" aside
    assert not at.dataframe and not at.metric  # no profile, no invoices
    at = open_page("customer_360", KIM, customer="C2")
    assert at.subheader[0].value == "Bolt Ltd" and not at.warning
    at = open_page("unapplied_cash", KIM, payment="P2")
    assert [w.value for w in at.warning] == ["No receipt 'P2' in this build (refunds cannot be applied)."]
    assert not NOT_MINE.findall(shown(at)[0].replace("P2", "")), "the receipt of C3 is shown"  # the link's own aside

    # The save paths' own check (not only the forms' choices), as the pages call it.
    st.session_state[SESSION_KEY] = KIM
    try:
        assert db.why_not_act(customer_ids=("C1",), invoice_ids=("I1",)) is None
        assert db.why_not_act(customer_ids=("C3",), invoice_ids=("I5",)) == (
            "that customer is not among those you may act on"
        )
        assert (
            db.why_not_act(invoice_ids=("I7",), payment_ids=("P1",)) == "that invoice is not among those you may act on"
        )
        assert db.why_not_act(payment_ids=("P2",)) == "that payment is not among those you may act on"
        st.session_state[SESSION_KEY] = ANALYST
        assert db.why_not_act(customer_ids=("C1",)) == "your role (analyst) is read-only"
        st.session_state[SESSION_KEY] = CONTROLLER
        assert db.why_not_act(customer_ids=("C3",), invoice_ids=("I5",), payment_ids=("P2",)) is None
    finally:
        del st.session_state[SESSION_KEY]

    # An analyst reads the worklist but gets no form to act with; Kim gets hers.
    assert not open_page("worklist", ANALYST).button
    assert [b.proto.label for b in open_page("worklist", KIM).button] == ["Save action"]


# ---- One Chromium: Customer 360 by URL -----------------------------------------------------------

SIGNED_IN_APP = """\
# A test's entry point: the session signed in as {username!r} (as dashboards/auth.py reads it),
# then the dashboards' own app, whose pages (app_pages/) are linked beside this file.
import runpy
import sys

sys.path.insert(0, {root!r})
import streamlit as st  # noqa: E402

from core.access import Viewer  # noqa: E402

st.session_state[{key!r}] = Viewer({username!r}, {name!r}, {role!r}, {collector!r})
runpy.run_path({app!r}, run_name="__main__")
"""


@contextmanager
def serve_signed_in(tmp_path: Path, who: Viewer) -> Iterator[str]:
    """`streamlit run` of the dashboards with every session signed in as `who` (a test entry
    point beside a link to app_pages/); its URL once healthy."""
    from tests.mail_world import free_port

    folder = tmp_path / "signed_in"
    folder.mkdir()
    (folder / "app_pages").symlink_to(REPO_ROOT / "dashboards" / "app_pages")
    entry = folder / "app.py"
    entry.write_text(
        SIGNED_IN_APP.format(
            key=SESSION_KEY,
            username=who.username,
            name=who.display_name,
            role=who.role,
            collector=who.collector_id,
            root=str(REPO_ROOT),
            app=str(APP),
        )
    )
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    command = [sys.executable, "-m", "streamlit", "run", str(entry), "--server.port", str(port)]
    command += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    process = subprocess.Popen(
        command,
        env={**os.environ},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "streamlit.log").read_text()[-3000:]
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=20)
        log.close()


def test_customer_360_in_a_browser_by_url_shows_her_customer_and_never_anothers(app_env: Path, tmp_path: Path) -> None:
    from tests.test_dashboards import read_xlsx
    from tests.test_pages_as_users import chromium_tab

    with serve_signed_in(tmp_path, KIM) as url, chromium_tab() as tab:
        tab.goto(f"{url}/customer_360?customer=C3")
        tab.get_by_text("is not found among the customers you may see").first.wait_for(timeout=30_000)
        tab.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
        page = tab.locator('[data-testid="stMain"]').inner_text()
        assert not NOT_MINE.findall(page.replace("C3", "")), page
        assert "Crane" not in tab.content()

        tab.goto(f"{url}/customer_360?customer=C1")
        tab.get_by_role("heading", name="Acme GmbH").first.wait_for(timeout=30_000)
        button = tab.locator('[data-testid="stDownloadButton"] button', has_text="Download Excel").first
        button.wait_for(timeout=30_000)
        with tab.expect_download() as download:
            button.click()
        rows, formulas = read_xlsx(Path(download.value.path()).read_bytes())
    # Acme's invoices, newest first (mail_world.py): I2 then I1; nobody else's.
    assert [row[0] for row in rows[1:]] == ["I2", "I1"]
    assert formulas == 0


# ---- What is saved is what the next run loads ------------------------------------------------

DAY = dt.date(2026, 11, 30)
GOOD_ACTION = {
    "customer_id": "C1",
    "collector_id": "K1",
    "action_type": "promise_to_pay",
    "action_date": DAY,
    "invoice_id": "I1",
    "promised_date": DAY + dt.timedelta(days=7),
    "promised_amount": Decimal("800.00"),
    "note": "Will pay next week",
}
# Each case: what changes from GOOD_ACTION, and the message problems() must give (None: fine).
ACTION_CASES: list[tuple[dict[str, object], str | None]] = [
    ({}, None),
    ({"promised_amount": Decimal("9999999999999.99")}, None),  # the largest the ops store keeps exactly
    ({"promised_amount": Decimal("0.01")}, None),
    ({"promised_amount": Decimal("12.50")}, None),
    ({"note": "a note\nover two lines, with \"quotes\" and 'apostrophes', =1+1 and ünïcödé"}, None),
    (
        {"promised_amount": Decimal("1E+20")},
        "the promised amount 1E+20: too large: at most 16 digits before the decimal point",
    ),
    # a DECIMAL(18,2), but SQLite would keep only 15 of its digits: the run would quarantine it
    (
        {"promised_amount": Decimal("9999999999999999.99")},
        "the promised amount 9999999999999999.99: too large: at most 13 digits before the decimal point",
    ),
    ({"promised_amount": Decimal("123.456")}, "the promised amount 123.456: more than 2 decimals (never rounded)"),
    ({"promised_amount": Decimal("0.001")}, "the promised amount 0.001: more than 2 decimals (never rounded)"),
    ({"customer_id": " "}, "the customer id is missing"),
    ({"collector_id": ""}, "the collector id is missing"),
    ({"invoice_id": "I" * 65}, "the invoice id is longer than 64 characters"),
]
GOOD_APPLICATION = {
    "action": "apply",
    "payment_id": "P1",
    "invoice_id": "I1",
    "action_date": DAY,
    "entered_by": "Kim Collector",
    "applied_amount": Decimal("200.00"),
    "note": None,
}
APPLICATION_CASES: list[tuple[dict[str, object], str | None]] = [
    ({}, None),
    ({"action": "reverse", "applied_amount": None}, None),
    (
        {"applied_amount": Decimal("1E+20")},
        "the amount 1E+20: too large: at most 16 digits before the decimal point",
    ),
    ({"applied_amount": Decimal("99.999")}, "the amount 99.999: more than 2 decimals (never rounded)"),
    ({"action": "undo"}, "unknown action 'undo': choose apply or reverse"),
    ({"payment_id": ""}, "which payment is missing"),
    ({"entered_by": "  "}, "who is applying is missing: enter your name"),
    ({"entered_by": "x" * 129}, "the entered by is longer than 128 characters"),
]


def _loaded(url: str, entity: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ops store's `entity` as the next run reads and conforms it: (rows loaded, quarantine)."""
    from ingestion.conform import conform
    from ingestion.contract import ENTITIES
    from ingestion.sources import read_sql_table

    batches = list(read_sql_table(ops_store.engine(url), "ops", entity, None))
    conformed = conform(pl.concat(batches), ENTITIES[entity], source="ops")
    return conformed.rows, conformed.quarantine


@pytest.mark.check
@pytest.mark.parametrize(
    ("entity", "kind", "good", "cases", "amount"),
    [
        ("collection_actions", ops_store.Action, GOOD_ACTION, ACTION_CASES, "promised_amount"),
        (
            "manual_cash_applications",
            ops_store.ManualApplication,
            GOOD_APPLICATION,
            APPLICATION_CASES,
            "applied_amount",
        ),
    ],
)
def test_what_problems_accepts_the_next_run_loads_and_what_the_run_quarantines_was_refused(
    entity: str, kind: type, good: dict[str, object], cases: list, amount: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    table = ops_store.metadata.tables[entity]
    key = table.primary_key.columns.keys()[0]
    accepted: dict[str, object] = {}
    with ops_store.engine(url).begin() as con:
        for number, (change, message) in enumerate(cases):
            item = kind(**{**good, **change})
            problems = item.problems()
            assert problems == ([message] if message else []), (change, problems)
            # Written as the page's save would, without the check: what would the run make of it?
            row_id = f"ROW-{number:02d}"
            con.execute(
                table.insert().values(**{key: row_id, "updated_at": dt.datetime(2026, 11, 30, 12)}, **item.__dict__)
            )
            if not problems:
                accepted[row_id] = item
    rows, quarantine = _loaded(url, entity)
    quarantined = set(pl.Series(quarantine["record"].str.json_path_match(f"$.{key}")).to_list())
    refused = {f"ROW-{n:02d}" for n, (_, message) in enumerate(cases) if message}
    # Every row the contract quarantines was refused by problems() ...
    assert quarantined and quarantined <= refused, (quarantined, refused)
    # ... and every row problems() accepted loads, with its amount to the cent, never rounded.
    loaded = {row[key]: row for row in rows.iter_rows(named=True)}
    assert set(accepted) <= set(loaded), set(accepted) - set(loaded)
    for row_id, item in accepted.items():
        assert loaded[row_id][amount] == getattr(item, amount), row_id
    # Extra decimals are a quarantine reason of the run too (never rounded on read), so a promise
    # of 123.456 would have been "Saved" and then quarantined, had problems() not refused it.
    if entity == "collection_actions":
        assert "ROW-07" in quarantined and "ROW-07" not in loaded
