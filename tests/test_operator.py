"""What an operator sees: bad settings stop everything in one line, errors name what failed
without a traceback (unless --debug), and `o2c run` shows each step and a closing summary."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import socket
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller

from core.settings import SettingsError, get_settings, hide_password
from ingestion.contract import ERP_ENTITIES
from ingestion.pipeline import SOURCES
from tests.conftest import o2c


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("O2C_CREDIT_HOLD_TARGET", "sheets", "O2C_CREDIT_HOLD_TARGET: 'sheets' is not one of erp, csv"),
        (
            "O2C_SCHEDULE_TIMEZONE",
            "Europe/Berln",
            "O2C_SCHEDULE_TIMEZONE: 'Europe/Berln' is not a timezone of the IANA database (e.g. UTC, Europe/Berlin)",
        ),
        (
            "O2C_SCHEDULE_CRON",
            "0 6 * *",
            "O2C_SCHEDULE_CRON: '0 6 * *' is not a cron expression of 5 fields (minute hour day month weekday, e.g. 0 6 * * *)",
        ),
        (
            "O2C_SCHEDULE_CRON",
            "0 25 * * *",
            "O2C_SCHEDULE_CRON: '0 25 * * *' is not a cron expression of 5 fields (minute hour day month weekday, e.g. 0 6 * * *)",
        ),
        (
            "O2C_REPORTING_CURRENCY",
            "EURO",
            "O2C_REPORTING_CURRENCY: 'EURO' is not an ISO 4217 currency code (e.g. USD, EUR, GBP)",
        ),
        (
            "O2C_ALERT_WEBHOOK_URL",
            "hooks.example.com/x",
            "O2C_ALERT_WEBHOOK_URL: 'hooks.example.com/x' is not an http(s) URL (e.g. https://hooks.example.com/o2c)",
        ),
        # A URL is a secret: its password is never shown.
        (
            "O2C_ERP_URL",
            "postgresql://bob:s3cret@db:port/erp",
            "O2C_ERP_URL: 'postgresql://bob:***@db:port/erp' is not a SQLAlchemy URL (e.g. postgresql+psycopg://user@host/erp)",
        ),
        (
            "O2C_ALERT_EMAILS",
            "cfo@example.com, controller",
            "O2C_ALERT_EMAILS: 'cfo@example.com, controller' is not a comma-separated list of email addresses (e.g. cfo@example.com)",
        ),
        ("O2C_DUCKDB_MEMORY_LIMIT", "lots", "O2C_DUCKDB_MEMORY_LIMIT: 'lots' is not a memory size (e.g. 8GB, 512MB)"),
        ("O2C_SMTP_PORT", "70000", "O2C_SMTP_PORT: '70000': input should be less than or equal to 65535"),
    ],
)
def test_a_bad_setting_is_one_line_naming_variable_value_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        get_settings()
    assert str(raised.value) == line


def test_good_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in {
        "O2C_CREDIT_HOLD_TARGET": "csv",
        "O2C_SCHEDULE_TIMEZONE": "Europe/Berlin",
        "O2C_SCHEDULE_CRON": "30 5 * * 1-5",
        "O2C_REPORTING_CURRENCY": "CHF",
        "O2C_ALERT_WEBHOOK_URL": "https://hooks.example.com/o2c",
        "O2C_ERP_URL": "postgresql+psycopg://bob:s3cret@db:5432/erp",
        "O2C_ALERT_EMAILS": "cfo@example.com, Controller <controller@example.com>",
    }.items():
        monkeypatch.setenv(variable, value)
    settings = get_settings()
    assert (settings.credit_hold_target, settings.reporting_currency) == ("csv", "CHF")


def test_hide_password() -> None:
    text = "cannot reach postgresql+psycopg://bob:s3cret@db:5432/erp or https://u:p4ss@hooks.example.com/x"
    assert (
        hide_password(text)
        == "cannot reach postgresql+psycopg://bob:***@db:5432/erp or https://u:***@hooks.example.com/x"
    )


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_a_mistyped_write_back_target_writes_nothing(dashboard_world: Path, tmp_path: Path) -> None:
    """The typo that once wrote credit holds into the ERP: now the command stops at start-up, and
    the ERP database has no recommendations table; the same world with `csv` does write (so it
    was the setting that stopped it)."""
    data = tmp_path / "data"
    shutil.copytree(dashboard_world, data)
    erp = data / "sources" / "erp.sqlite"

    def erp_tables() -> set[str]:
        with sqlite3.connect(erp) as con:
            return {name for (name,) in con.execute("select name from sqlite_master where type = 'table'")}

    before = erp_tables()
    result = o2c(data, "alerts", "write-back", check=False, env={"O2C_CREDIT_HOLD_TARGET": "sheets"})
    assert result.returncode == 1
    assert _lines(result.stderr) == ["error: O2C_CREDIT_HOLD_TARGET: 'sheets' is not one of erp, csv"]
    assert "Traceback" not in result.stdout + result.stderr
    assert erp_tables() == before and "o2c_credit_hold_recommendations" not in before
    assert not (data / "outbox").exists()

    debug = o2c(data, "--debug", "alerts", "write-back", check=False, env={"O2C_CREDIT_HOLD_TARGET": "sheets"})
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert _lines(debug.stderr)[-1] == "error: O2C_CREDIT_HOLD_TARGET: 'sheets' is not one of erp, csv"

    written = o2c(data, "alerts", "write-back", env={"O2C_CREDIT_HOLD_TARGET": "csv"})
    assert "csv" in written.stdout and list((data / "outbox").rglob("*.csv"))
    assert erp_tables() == before


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_source_errors_are_one_line_and_debug_adds_the_traceback(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"postgresql+psycopg://bob:s3cret@127.0.0.1:{port}/erp"
    result = o2c(tmp_path, "ingest", "--source", "erp", check=False, env={"O2C_ERP_URL": url})
    assert result.returncode == 2
    [line] = _lines(result.stderr)
    assert line == (
        f"error: ingest: erp: cannot connect to postgresql at 127.0.0.1:{port}/erp (O2C_ERP_URL): "
        f"connection refused to 127.0.0.1:{port}"
    )
    assert "s3cret" not in result.stdout + result.stderr and "Traceback" not in result.stderr

    debug = o2c(tmp_path, "--debug", "ingest", "--source", "erp", check=False, env={"O2C_ERP_URL": url})
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr and _lines(debug.stderr)[-1] == line

    missing = tmp_path / "nowhere" / "erp.sqlite"
    result = o2c(tmp_path, "ingest", "--source", "erp", check=False, env={"O2C_ERP_URL": f"sqlite:///{missing}"})
    assert result.returncode == 2
    assert _lines(result.stderr) == [
        f"error: ingest: erp: O2C_ERP_URL points at the SQLite file {missing}, which does not exist"
    ]

    folder = tmp_path / "no-such-export"
    result = o2c(tmp_path, "ingest", "--source", "files", check=False, env={"O2C_CONTRACT_DIR": str(folder)})
    assert result.returncode == 2
    assert _lines(result.stderr) == [f"error: ingest: files: O2C_CONTRACT_DIR points at {folder}, which does not exist"]


def test_run_shows_each_step_and_a_summary_table(tmp_path: Path) -> None:
    o2c(tmp_path, "simulate", "--customers", "20", "--days", "40", "--end-date", "2026-05-31")
    with sqlite3.connect(tmp_path / "sources" / "erp.sqlite") as con:
        # A first load reads every row of every ERP table.
        present = {name for (name,) in con.execute("select name from sqlite_master where type = 'table'")}
        erp_rows = sum(con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in ERP_ENTITIES if t in present)
    result = o2c(tmp_path, "run", "--select", "group:sources", process=True)
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    # Progress: a line per step as it finishes, with its duration.
    assert "succeeded raw_erp (" in out and f" s, {erp_rows:,} rows)" in out
    table = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if line.startswith("│") and (cells := [c.strip() for c in line.strip("│").split("│")])
    }
    # Each source's load and its GX checks, and the freshness checks on what was loaded.
    # the GX suites of every source in one step after all loads (their references cross sources)
    assert set(table) == {f"raw_{s}" for s in SOURCES} | {"gx_sources", "source_freshness"}
    assert table["raw_erp"][0] == "succeeded" and table["raw_erp"][2] == f"{erp_rows:,}"
    assert all(status == "succeeded" and float(seconds) >= 0 for status, seconds, _ in table.values())
    assert table["raw_files"][2] == "" and table["gx_sources"][2] == ""  # not configured; a check writes no rows


def _documented_automations() -> dict[str, str]:
    """The table "What runs on its own, as shipped" of docs/operations.md: name → running/stopped."""
    from core.settings import REPO_ROOT

    text = (REPO_ROOT / "docs" / "operations.md").read_text()
    section = text.split("### What runs on its own, as shipped", 1)[1].split("\n#", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| `")]
    return {cells[0].strip().strip("`"): cells[-1].strip() for cells in rows}


def test_the_documented_schedules_are_what_ships() -> None:
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    from orchestration.definitions import defs

    definitions = defs()
    shipped = {
        s.name: "running" if s.default_status == DefaultScheduleStatus.RUNNING else "stopped"
        for s in definitions.schedules or []
    } | {
        s.name: "running" if s.default_status == DefaultSensorStatus.RUNNING else "stopped"
        for s in definitions.sensors or []
    }
    assert shipped == _documented_automations()
    # The rule the table states: nothing that sends mail runs before it is configured.
    assert shipped["collector_reports_daily"] == shipped["alerts_after_publish"] == "stopped"
    assert shipped["daily_build"] == "running"


class _Inbox:
    """aiosmtpd handler: accepts and forgets (the doctor only connects and says EHLO)."""

    async def handle_DATA(self, server, session, envelope) -> str:
        return "250 OK"


class _Hook(BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(405)  # a real hook refuses HEAD: it answered, so it is reachable
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[int, int]]:
    """A real SMTP server and a real HTTP server on localhost: (smtp port, http port)."""
    smtp_port = _closed_port()
    controller = Controller(_Inbox(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield smtp_port, http.server_address[1]
    finally:
        http.shutdown()
        controller.stop()


def _doctor(data: Path, env: dict[str, str]) -> tuple[int, dict[str, tuple[str, str]]]:
    result = o2c(data, "doctor", check=False, env={"COLUMNS": "400", **env})
    rows = {
        cells[0]: (cells[1], cells[2])
        for line in result.stdout.splitlines()
        if line.startswith("│") and (cells := [c.strip() for c in line.strip("│").split("│")])
    }
    return result.returncode, rows


def test_doctor_checks_each_thing_and_fails_on_each_broken_one(tmp_path: Path, servers: tuple[int, int]) -> None:
    smtp_port, http_port = servers
    data = tmp_path / "data"
    erp = tmp_path / "erp.sqlite"
    with sqlite3.connect(erp) as con:
        con.execute("create table customers (customer_id text)")
    serving = tmp_path / "serving.duckdb"
    with duckdb.connect(str(serving)) as con:
        con.execute("create table marts_x as select 1 as a")
    good = {
        "O2C_ERP_URL": f"sqlite:///{erp}",
        "O2C_SERVING_PATH": str(serving),
        "O2C_SMTP_HOST": "127.0.0.1",
        "O2C_SMTP_PORT": str(smtp_port),
        "O2C_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{http_port}/hooks/s3cret-token",
    }
    code, rows = _doctor(data, good)
    assert code == 0, rows
    assert list(rows) == ["configuration", "ERP", "ops store", "SMTP", "webhook", "disk", "serving file", "engine"]
    assert {status for status, _ in rows.values()} == {"ok"}
    assert rows["ERP"][1] == f"connected to sqlite:///{erp}"
    assert rows["SMTP"][1].startswith(f"127.0.0.1:{smtp_port} (O2C_SMTP_HOST, O2C_SMTP_PORT) answered EHLO: ")
    assert rows["webhook"][1] == f"http://127.0.0.1:{http_port} answered HTTP 405"
    assert rows["serving file"][1] == f"{serving} readable, 1 tables"
    assert rows["engine"][1] == "duckdb, on this machine (O2C_ENGINE)"
    java = shutil.which("java")  # the local Spark's Java (make system-deps)
    _, rows = _doctor(data, {**good, "O2C_ENGINE": "spark", "JAVA_HOME": ""})
    assert rows["engine"][0] == "ok" and rows["engine"][1].startswith("spark, local (local[2], O2C_SPARK_MASTER): ")
    assert rows["engine"][1].endswith(f" at {java}") and "version" in rows["engine"][1]
    code, rows = _doctor(data, good)
    free = shutil.disk_usage(tmp_path).free / 1024**3
    shown, rest = rows["disk"][1].split(" GB free under ")
    # The data dir does not exist yet: the disk it will be on; other tests write meanwhile.
    assert rest == f"{data} (O2C_DATA_DIR)" and abs(float(shown.replace(",", "")) - free) < 0.5

    closed = _closed_port()
    broken = {
        "ERP": (
            {"O2C_ERP_URL": f"sqlite:///{tmp_path / 'gone.sqlite'}"},
            f"erp: O2C_ERP_URL points at the SQLite file {tmp_path / 'gone.sqlite'}, which does not exist",
        ),
        "SMTP": (
            {"O2C_SMTP_PORT": str(closed)},
            f"cannot reach 127.0.0.1:{closed} (O2C_SMTP_HOST, O2C_SMTP_PORT): [Errno 111] Connection refused",
        ),
        "webhook": (
            {"O2C_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{closed}/hooks/s3cret-token"},
            f"cannot reach http://127.0.0.1:{closed} (O2C_ALERT_WEBHOOK_URL): [Errno 111] Connection refused",
        ),
        "serving file": (
            {"O2C_SERVING_PATH": str(tmp_path / "none.duckdb")},
            f"no serving file at {tmp_path / 'none.duckdb'}: run `o2c run`",
        ),
        "engine": (
            {"O2C_ENGINE": "spark", "O2C_SPARK_HOST": "127.0.0.1", "O2C_SPARK_PORT": str(closed)},
            f"cannot reach the Spark Thrift server at 127.0.0.1:{closed} (O2C_SPARK_HOST, O2C_SPARK_PORT): "
            "[Errno 111] Connection refused",
        ),
    }
    no_java = {"O2C_ENGINE": "spark", "JAVA_HOME": "", "PATH": str(tmp_path / "no-java")}
    code, rows = _doctor(data, {**good, **no_java})
    assert code == 1 and rows["engine"] == (
        "FAIL",
        "O2C_ENGINE=spark runs a local Spark, which needs Java 17: no java in JAVA_HOME or on PATH "
        "(`make system-deps` installs default-jre-headless)",
    )
    for check, (change, detail) in broken.items():
        code, rows = _doctor(data, {**good, **change})
        assert code == 1, check
        assert rows[check] == ("FAIL", detail)
        assert [name for name, (status, _) in rows.items() if status != "ok"] == [check]

    code, rows = _doctor(data, {**good, "O2C_CREDIT_HOLD_TARGET": "sheets"})
    assert code == 1
    assert rows == {"configuration": ("FAIL", "O2C_CREDIT_HOLD_TARGET: 'sheets' is not one of erp, csv")}


def test_a_failed_run_is_emailed_and_posted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run-failure sensor on a real failed run: a real SMTP server receives the email and a
    real HTTP server the JSON, each with the job, run id, failed step and the one-line error."""
    from dagster import DagsterInstance, Failure, build_run_status_sensor_context, job, op

    from orchestration.defs.automation import run_failure_notice

    received: list[object] = []
    posts: list[dict] = []

    class Keep:
        async def handle_DATA(self, server, session, envelope) -> str:
            received.append(envelope)
            return "250 OK"

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    @op
    def raw_erp() -> None:
        raise Failure(description="erp: O2C_ERP_URL points at the SQLite file /srv/erp.sqlite, which does not exist")

    @job
    def full_build() -> None:
        raw_erp()

    smtp_port = _closed_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        for variable, value in {
            "O2C_SMTP_HOST": "127.0.0.1",
            "O2C_SMTP_PORT": str(smtp_port),
            "O2C_ALERT_EMAILS": "ops@example.com, oncall@example.com",
            "O2C_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{http.server_address[1]}/hook",
        }.items():
            monkeypatch.setenv(variable, value)
        with DagsterInstance.ephemeral() as instance:
            result = full_build.execute_in_process(instance=instance, raise_on_error=False)
            assert not result.success
            context = build_run_status_sensor_context(
                sensor_name="run_failure_notice",
                dagster_instance=instance,
                dagster_run=result.dagster_run,
                dagster_event=result.get_run_failure_event(),
            ).for_run_failure()
            run_failure_notice(context)
    finally:
        http.shutdown()
        controller.stop()

    error = "raw_erp: erp: O2C_ERP_URL points at the SQLite file /srv/erp.sqlite, which does not exist"
    assert posts == [
        {"event": "run_failed", "job": "full_build", "run_id": result.run_id, "step": "raw_erp", "error": error}
    ]
    [envelope] = received
    assert sorted(envelope.rcpt_tos) == ["oncall@example.com", "ops@example.com"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "o2c run failed: full_build, step raw_erp"
    lines = message.get_content().splitlines()
    assert lines[:4] == ["Job: full_build", f"Run: {result.run_id}", "Failed step: raw_erp", f"Error: {error}"]


def test_a_failed_run_is_one_line_per_failure_and_debug_shows_the_log(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "erp.sqlite"
    env = {"O2C_ERP_URL": f"sqlite:///{missing}"}
    result = o2c(tmp_path, "run", "--select", "group:sources", check=False, env=env, process=True)
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed ")]
    assert failed == [f"failed raw_erp: erp: O2C_ERP_URL points at the SQLite file {missing}, which does not exist"]
    assert "Stack Trace" not in result.stdout + result.stderr and "Traceback" not in result.stdout + result.stderr
    assert "Stack Trace:" in (tmp_path / "logs" / "last_run.log").read_text()  # Dagster's log, kept aside

    debug = o2c(tmp_path, "--debug", "run", "--select", "group:sources", check=False, env=env, process=True)
    assert debug.returncode == 1
    assert "Stack Trace:" in debug.stdout + debug.stderr and failed[0] in debug.stdout.splitlines()


def _marts_yaml_descriptions() -> dict[str, dict[str, str]]:
    """Each mart's column descriptions as written in the dbt YAML (what the docs must show)."""
    import yaml

    from core.settings import REPO_ROOT

    models = REPO_ROOT / "dbt_project" / "models"
    # {% docs name %} … {% enddocs %} blocks, which descriptions reuse as {{ doc('name') }}
    blocks = {
        name: text.strip()
        for path in models.rglob("*.md")
        for name, text in re.findall(r"{%\s*docs\s+(\w+)\s*%}(.*?){%\s*enddocs\s*%}", path.read_text(), re.S)
    }

    def rendered(text: str) -> str:
        return re.sub(r"{{\s*doc\('(\w+)'\)\s*}}", lambda m: blocks[m.group(1)], text).strip()

    described: dict[str, dict[str, str]] = {}
    for path in (models / "marts").glob("*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            described[model["name"]] = {c["name"]: rendered(c.get("description", "")) for c in model.get("columns", [])}
    return described


def test_docs_generates_the_marts_docs_read_only_and_serves_them(dashboard_world: Path, tmp_path: Path) -> None:
    """`o2c docs` on a published serving file that a reader (as the dashboards do) holds open:
    the manifest and catalog list the marts with their column descriptions from the YAML, the
    served index.html answers a real HTTP GET, the serving file is unchanged, and Ctrl-C stops it."""
    import os
    import signal
    import subprocess
    import time
    import urllib.request

    from tests.conftest import O2C

    serving = dashboard_world / "warehouse" / "serving.duckdb"
    before = (serving.stat().st_mtime_ns, serving.read_bytes())
    port = _closed_port()
    env = {
        **os.environ,
        "O2C_DATA_DIR": str(tmp_path),  # the site goes under data/dbt_docs: not into the shared world
        "O2C_SERVING_PATH": str(serving),
        "O2C_DOCS_PORT": str(port),
    }
    reader = duckdb.connect(str(serving), read_only=True)  # a dashboard reading meanwhile
    process = subprocess.Popen([*O2C, "docs"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line or process.poll() is None, "".join(lines) + process.stderr.read()
            lines.append(line)
            if line.startswith("dbt docs on "):
                break
        assert lines[-1].strip() == f"dbt docs on http://localhost:{port} (Ctrl-C stops)"
        assert reader.execute("select count(*) from marts.fct_ar_kpis_monthly").fetchone()[0] > 0

        with urllib.request.urlopen(f"http://localhost:{port}/index.html", timeout=10) as response:
            assert response.status == 200
            assert "<title>dbt Docs</title>" in response.read().decode()
        with urllib.request.urlopen(f"http://localhost:{port}/manifest.json", timeout=10) as response:
            manifest = json.loads(response.read())
        with urllib.request.urlopen(f"http://localhost:{port}/catalog.json", timeout=10) as response:
            catalog = json.loads(response.read())
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        reader.close()
    assert process.returncode == 0 and "dbt docs stopped." in process.stdout.read()

    described = _marts_yaml_descriptions()
    marts = {
        n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["schema"] == "marts"
    }
    for name in ("fct_ar_kpis_monthly", "fct_invoices", "dim_customers"):
        # the manifest's descriptions are the YAML's; the catalog found the table in the serving
        # file, with the same descriptions as column comments (persisted, then published)
        wanted = {column: text for column, text in described[name].items() if text}
        assert wanted and {c: marts[name]["columns"][c]["description"].strip() for c in wanted} == wanted
        entry = catalog["nodes"][f"model.o2c.{name}"]
        assert (entry["metadata"]["database"], entry["metadata"]["schema"]) == ("serving", "marts")
        assert {c: entry["columns"][c]["comment"].strip() for c in wanted} == wanted
    assert (serving.stat().st_mtime_ns, serving.read_bytes()) == before  # opened read-only, untouched
    assert (tmp_path / "dbt_docs" / "static_index.html").exists()


def test_docs_without_a_serving_file_is_one_line(tmp_path: Path) -> None:
    result = o2c(tmp_path, "docs", "--no-serve", check=False)
    assert result.returncode == 1
    assert _lines(result.stderr) == [
        f"error: docs: no serving file at {tmp_path / 'warehouse' / 'serving.duckdb'} (O2C_SERVING_PATH): "
        "run `o2c run` first"
    ]


def test_data_docs_are_copied_where_streamlit_serves_them_and_recopied_when_rewritten(tmp_path: Path) -> None:
    from dashboards.static_docs import STAMP, publish_data_docs

    site, static = tmp_path / "local_site", tmp_path / "static"
    assert not publish_data_docs(site, static)  # no docs yet: nothing to link
    (site / "validations").mkdir(parents=True)
    (site / "index.html").write_text("<title>Data Docs</title> first build")
    (site / "validations" / "raw_invoices.html").write_text("invoices, first build")
    # what an older version left there: a symbolic link into the data directory
    static.mkdir()
    (static / "gx").symlink_to(site, target_is_directory=True)

    assert publish_data_docs(site, static)
    copy = static / "gx"
    assert not copy.is_symlink() and (copy / "index.html").read_text() == "<title>Data Docs</title> first build"
    assert (copy / "validations" / "raw_invoices.html").read_text() == "invoices, first build"
    assert sorted(p.name for p in static.iterdir()) == ["gx"]  # no half copies or old folders left
    stamped = (copy / STAMP).read_text()

    assert publish_data_docs(site, static) and (copy / STAMP).read_text() == stamped  # unchanged: not copied

    # A build rewrites the docs: the next page view copies them again.
    page = site / "validations" / "raw_invoices.html"
    page.write_text("invoices, second build")
    later = page.stat().st_mtime_ns + 1_000_000_000
    os.utime(page, ns=(later, later))
    assert publish_data_docs(site, static)
    assert (copy / "validations" / "raw_invoices.html").read_text() == "invoices, second build"
    assert sorted(p.name for p in static.iterdir()) == ["gx"]
    assert site.is_dir() and (site / "index.html").exists()  # the data directory's docs untouched


def test_the_data_health_link_to_the_data_docs_answers_in_a_real_server(
    dashboard_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`o2c dashboard` (real Streamlit), the data-health page in Chromium: the link's target
    answers HTTP 200 with the GX index of this world (it was HTTP 400 through a symbolic link)."""
    import urllib.request

    from playwright.sync_api import sync_playwright

    from quality.results import data_docs_index
    from tests.test_dashboards import CHROMIUM, _wait_for_app, serve_dashboards

    monkeypatch.setenv("O2C_DATA_DIR", str(dashboard_world))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    monkeypatch.delenv("O2C_SERVING_PATH", raising=False)
    index = data_docs_index(dashboard_world / "gx").read_bytes()
    assert b"Data Docs created by Great Expectations" in index
    with serve_dashboards(tmp_path) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            tab = browser.new_page()
            tab.goto(f"{url}/data_health")
            _wait_for_app(tab, "Great Expectations data docs")
            link = tab.get_by_role("link", name="Open the data docs")
            link.wait_for(timeout=30_000)
            target = link.evaluate("a => a.href")  # the absolute URL the browser would open
        finally:
            browser.close()
        assert target == f"{url}/app/static/gx/index.html"
        with urllib.request.urlopen(target, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/html")
            assert response.read() == index
