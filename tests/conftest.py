"""Shared fixtures: small simulated worlds, warehouses loaded from them, a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import fcntl
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

import simulator
from core.settings import REPO_ROOT
from ingestion.contract import ENTITIES
from ingestion.pipeline import IngestConfig
from tests import mail_world

END = dt.date(2026, 6, 30)
O2C = [sys.executable, "-m", "orchestration.cli"]
SMALL = {"seed": 7, "customers": 80, "days": 120, "end_date": END}


# The fast tier, `make check` (`pytest -m check`): tests that need no simulated world built into a
# warehouse, no server and no browser; `make test` runs them with all the rest. Whole modules, or
# single tests of modules whose other tests build worlds.
CHECK_MODULES = frozenset(
    {
        "test_bad_rows",  # hand-written bad files and a hand-made ERP, real dlt loads
        "test_contract_sources",  # the dbt sources match the contract
        "test_dbt_runner",  # when the manifest is parsed again
        "test_dbt_integration",  # the seeded dbt project: hand-checked marts, every dbt unit test
        "test_dunning",  # hand-made customers in a hand-built serving file, aiosmtpd
        "test_mapping",
        "test_clv",
        "test_layout",  # the package import graph: no cycle, core imports no other package
        "test_simulator",  # simulates small worlds, builds none
        "test_source_freshness",  # a hand-built warehouse; one dbt parse for the changed bound
    }
)
CHECK_TESTS = frozenset(
    {
        "test_forecasting.py::test_history_stages_the_origins_and_their_training_windows_only",
        "test_forecasting.py::test_baseline_rules_delay_promise_dispute_and_never_before_tomorrow",
        "test_forecasting.py::test_cash_forecast_spreads_new_invoicing_by_the_collection_curve",
        "test_exactly_once.py::test_the_message_id_is_the_logical_emails_own",
        "test_ingestion.py::test_contract_docs_are_generated_from_the_contract",
        "test_quality.py::test_absent_or_empty_optional_data_passes_and_extra_columns_are_a_warning",
        "test_quality.py::test_required_columns_and_present_optional_values_are_still_checked",
        "test_quality.py::test_a_key_mart_may_be_empty_only_when_what_it_is_built_from_is",
    }
)


# The modules that take longest, longest first: each module's tests summed in pytest's JUnit
# report of `make test` on 2026-12-07 (three workers, `o2c run` in the tests' process; seconds,
# set-ups included). Under `--dist loadfile --no-loadscope-reorder` each module runs whole on one
# worker, handed out in this order as workers free up; the longest first keeps the workers'
# finishing times close (xdist's own order, by number of tests, left one of two workers 10
# minutes behind). The rest follow in file order.
SLOWEST_FIRST = (
    "test_dbt",  # 643
    "test_own_data",  # 570
    "test_spark_engine",  # 367
    "test_benchmarks",  # 292
    "test_forecasting",  # 267
    "test_orchestration_runs",  # 218
    "test_quality",  # 213
    "test_dashboards",  # 194
    "test_alerts",  # 154
    "test_operator",  # 145
    "test_own_data_with_erp",  # 145
    "test_orchestration",  # 121
    "test_ingestion",  # 84
    "test_run_safety",  # 76
    "test_hostile_data",  # 72
    "test_cfo",  # 69
    "test_exactly_once",  # 69
    "test_dashboards_degraded",  # 65
    "test_pages_as_users",  # 64
)


@pytest.hookimpl(tryfirst=True)  # before `-m check` deselects by the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the fast tier; a test named in CHECK_TESTS that its module no longer has (renamed,
    removed) is an error, so the tier never shrinks without anyone noticing. Then put the slowest
    modules first (SLOWEST_FIRST), each module's tests in their own order."""
    rank = {stem: i for i, stem in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))
    seen_modules: set[str] = set()
    seen_tests: set[str] = set()
    for item in items:
        module = item.path.name
        name = f"{module}::{item.originalname}" if isinstance(item, pytest.Function) else item.nodeid
        seen_modules.add(module)
        seen_tests.add(name)
        if item.path.stem in CHECK_MODULES or name in CHECK_TESTS:
            item.add_marker(pytest.mark.check)
    # Only modules collected whole can say a test is gone (a run of one test collects no others).
    if not config.getoption("keyword") and not any("::" in arg for arg in config.args):
        missing = {t for t in CHECK_TESTS if t.split("::")[0] in seen_modules and t not in seen_tests}
        if missing:
            raise pytest.UsageError(f"tests/conftest.py CHECK_TESTS names tests that do not exist: {sorted(missing)}")


# Every test's dashboards (an AppTest, or `o2c dashboard` in a subprocess) are signed in as this
# CFO: dashboards/auth.py TEST_VIEWER_ENV, docs/security.md "Sign-in and roles". A test signs an
# AppTest in as someone else by setting its session state (tests/test_auth.py `signed_in`), and
# the tests of sign-in itself remove the variable. Session-wide, so module-scoped servers have it.
TEST_VIEWER = "cfo:test-cfo"


@pytest.fixture(scope="session", autouse=True)
def dashboards_signed_in_as_a_test_cfo() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("O2C_INSECURE_TEST_VIEWER", TEST_VIEWER)
        yield


def o2c(
    data_dir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None, process: bool = False
) -> subprocess.CompletedProcess[str]:
    """The `o2c` command on the data directory `data_dir` (plus `env`, e.g. O2C_CONTRACT_DIR).

    `o2c run` and `o2c rebuild` run in this test's process (IN_PROCESS) unless `process` is set,
    which a test of the command as a process sets (what the operator's terminal shows, the lock
    refusing a second writer); every other command is a process of its own."""
    env = {**os.environ, "O2C_DATA_DIR": str(data_dir), "COLUMNS": "200", **(env or {})}
    if args and args[0] in IN_PROCESS and not process:
        result = o2c_in_this_process(list(args), env)
    else:
        result = subprocess.run([*O2C, *args], env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


# The pipeline's commands, run in the test's process: the same code as the `o2c` process runs
# (orchestration.cli's main, its exit code, its output), without a new Python importing Dagster,
# Great Expectations, dagster-dbt and statsforecast and loading the asset graph for every run
# (about 16 of a small run's 38 CPU-seconds; 30 runs a suite). dbt is still a process of its own.
IN_PROCESS = frozenset({"run", "rebuild"})


def o2c_in_this_process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """orchestration.cli.main with `args` and exactly `env` as the environment (restored after,
    with what the command set in it, e.g. DAGSTER_HOME), its stdout and stderr captured."""
    import contextlib
    import faulthandler
    import io

    from orchestration import cli

    saved_environ, saved_argv = dict(os.environ), sys.argv
    stdout, stderr = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["o2c", *args]
    # As a process's timeout would: a run still going after 10 minutes ends this test worker with
    # every thread's traceback (pytest-xdist fails the test and starts another worker), rather than
    # the suite waiting for ever.
    faulthandler.dump_traceback_later(600, exit=True, file=sys.__stderr__)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            cli.main()
    except SystemExit as end:  # main ends every command so, an error as one line and exit 1
        code = end.code
    finally:
        faulthandler.cancel_dump_traceback_later()
        os.environ.clear()
        os.environ.update(saved_environ)
        sys.argv = saved_argv
        cli.options.debug = False
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(["o2c", *args], returncode, stdout.getvalue(), stderr.getvalue())


def simulate_world(root: Path, erp_url: str | None = None, **kwargs: object) -> tuple[Path, str]:
    sources = root / "sources"
    url = erp_url or f"sqlite:///{sources / 'erp.sqlite'}"
    sources.mkdir(parents=True, exist_ok=True)
    simulator.simulate(sources, url, **{**SMALL, **kwargs})
    return sources, url


def ingest_config(root: Path, sources: Path, erp_url: str, lookback_hours: int = 24, **kwargs: object) -> IngestConfig:
    return IngestConfig(
        warehouse=root / "warehouse.duckdb",
        dlt_dir=root / "dlt",
        erp_url=erp_url,
        landing=sources / "landing",
        lookback=dt.timedelta(hours=lookback_hours),
        **kwargs,
    )


def raw_tables(warehouse: Path, *, with_load_ids: bool = False) -> dict[str, pl.DataFrame]:
    """Every raw data table (not dlt's or our bookkeeping), sorted by its key."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = con.sql(
            "select table_schema, table_name from information_schema.tables where table_schema like 'raw\\_%' escape '\\' "
            "and table_schema not like '%\\_staging' escape '\\' and table_name not like '\\_%' escape '\\' order by 1, 2"
        ).fetchall()
        out = {}
        for schema, table in names:
            key = list(ENTITIES[table].primary_key) if table in ENTITIES else ["quarantine_id"]
            exclude = "" if with_load_ids else " exclude (_dlt_load_id)"
            if table == "quarantine" and not with_load_ids:
                exclude = " exclude (_dlt_load_id, load_id, quarantined_at)"
            out[f"{schema}.{table}"] = pl.from_arrow(
                con.sql(f'select *{exclude} from "{schema}"."{table}" order by {", ".join(key)}').to_arrow_table()
            )
        return out
    finally:
        con.close()


def assert_same_tables(actual: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    assert actual.keys() == expected.keys()
    for name, table in expected.items():
        assert actual[name].equals(table), name


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return simulate_world(tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="session")
def faulty_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return simulate_world(tmp_path_factory.mktemp("faulty"), customers=150, days=150, inject_faults=True)


# The world the heavy modules share (dashboards, degraded dashboards, alerts, the orchestration
# runs): simulated and run through the whole pipeline (serving file published), once a session.
PUBLISHED_WORLD = ["--customers", "60", "--days", "240", "--end-date", END.isoformat(), "--seed", "5"]


def built_once(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, name: str, build: Callable[[Path], None]
) -> Path:
    """The data directory `name`, built by `build` once per test session: under pytest-xdist the
    workers share one (the first builds it under a lock, the others wait for it and reuse it),
    instead of one per worker. Read it only; a test that changes a world copies it first."""
    # Under xdist every worker's base temp is a folder of the session's shared one.
    root = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    data, done = root / name, root / f"{name}.built"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(data, ignore_errors=True)  # a build that failed half-way in another worker
            data.mkdir()
            build(data)
            done.touch()
    return data


# The pages that show warehouse data, as the app registers them; the audit page shows the ops
# store's sign-ins and records instead, to the roles that read the audit trail.
DATA_PAGES = tuple(
    p
    for p in re.findall(
        r'st\.Page\(\s*"app_pages/(\w+)\.py"', (REPO_ROOT / "dashboards" / "streamlit_app.py").read_text()
    )
    if p != "audit"
)


def point_the_app_at(data: Path, monkeypatch: pytest.MonkeyPatch, ops_dir: Path) -> None:
    """The dashboards' settings read this data directory (its serving file, never written) and a
    test's own ops store in `ops_dir`."""
    monkeypatch.setenv("O2C_DATA_DIR", str(data))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{ops_dir / 'ops.sqlite'}")
    for name in ("O2C_SERVING_PATH", "O2C_WAREHOUSE_PATH"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def app_env(dashboard_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The shared published world, read only; this test's own ops store."""
    point_the_app_at(dashboard_world, monkeypatch, tmp_path)
    return dashboard_world


@pytest.fixture(scope="session")
def dashboard_world(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A data directory with a simulated world run through the whole pipeline (serving file
    published): what the dashboard tests read, and the alert and orchestration-run tests copy."""

    def build(data: Path) -> None:
        o2c(data, "simulate", *PUBLISHED_WORLD)
        o2c(data, "run")

    return built_once(tmp_path_factory, worker_id, "dashboards", build)


# ---- Email: a real SMTP server, and the collectors' world (tests/mail_world.py) -------------


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[mail_world.Inbox]:
    """aiosmtpd on 127.0.0.1 for one test, with O2C_SMTP_HOST / O2C_SMTP_PORT pointing at it."""
    with mail_world.smtp_server() as inbox:
        monkeypatch.setenv("O2C_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("O2C_SMTP_PORT", str(inbox.port))
        yield inbox


@pytest.fixture(scope="session")
def collector_world(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A data directory with the collectors' world of export files (tests/mail_world.py, no
    orders) run through the whole pipeline by `o2c run`, serving file published. Read it only."""

    def build(data: Path) -> None:
        folder = mail_world.write_collector_files(data / "export")
        o2c(data, "run", env={"O2C_CONTRACT_DIR": str(folder), "O2C_REPORTING_CURRENCY": "EUR"})

    return built_once(tmp_path_factory, worker_id, "collectors", build)


# ---- A real PostgreSQL server, run as an unprivileged user -----------------------------------


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"PostgreSQL binary {name!r} not found: `make system-deps` installs the postgresql package")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway PostgreSQL server; initdb refuses root, so it runs as `nobody`."""
    base = Path(f"/tmp/o2c-pg-{os.getpid()}")  # short path: the socket name has a length limit
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(mode=0o755)
    data = base / "data"
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(base, "nobody")
    port = _free_port()
    subprocess.run(
        [*as_user, _pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_user,
            _pg_bin("pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        import psycopg

        for _ in range(50):
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True
                ) as conn:
                    conn.execute("create database erp")
                break
            except psycopg.OperationalError:
                time.sleep(0.2)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/erp"
    finally:
        subprocess.run([*as_user, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
