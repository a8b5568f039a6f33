"""Source freshness has one definition, dbt's sources YAML: the Dagster check `source_freshness`
reports dbt's verdict per raw table (evaluated from the parsed manifest, without starting dbt), a
stale source still publishes, and the data-health page shows the recorded verdicts.

A hand-built warehouse whose load logs say when each table was last loaded; no simulator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey, DagsterInstance
from dbt.artifacts.resources.v1.components import FreshnessThreshold, Time, TimePeriod
from streamlit.testing.v1 import AppTest

from core.settings import REPO_ROOT
from ingestion.warehouse import record_load
from orchestration.dbt_runner import MANIFEST, prepare_manifest
from orchestration.defs.publish import blocking
from orchestration.serving import publish
from quality import freshness
from quality.results import record_results

APP = REPO_ROOT / "dashboards" / "streamlit_app.py"
NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
# When each table was last loaded, as hours before NOW; None: a table of a configured source that
# this installation never loaded.
LOADED_HOURS_AGO: dict[tuple[str, str], list[float]] = {
    ("fx", "fx_rates"): [50.0, 2.0],  # the newest load counts
    ("processor", "payments"): [100.0, 40.0],  # past the default bound of 30 hours
    ("ops", "collection_actions"): [1.0],
    ("ops", "manual_cash_applications"): [],
}


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> Path:
    """fx, processor (landing folders) and the ops store configured; no ERP, no bank, no files."""
    monkeypatch = monkeypatch_module
    tmp_path = tmp_path_factory.mktemp("freshness")
    data = tmp_path / "data"
    for name in (
        "O2C_ERP_URL",
        "O2C_CONTRACT_DIR",
        "O2C_SOURCES_DIR",
        "O2C_WAREHOUSE_PATH",
        "O2C_SERVING_PATH",
        "O2C_SOURCE_FRESHNESS_HOURS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("O2C_DATA_DIR", str(data))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    for folder in ("fx", "processor"):
        (data / "sources" / "landing" / folder).mkdir(parents=True)
    (data / "warehouse").mkdir(parents=True)
    con = duckdb.connect(str(data / "warehouse" / "warehouse.duckdb"))
    try:
        # The load log as ingestion writes it (only the columns that matter here are filled).
        for (source, entity), hours in LOADED_HOURS_AGO.items():
            log = pl.DataFrame(
                {
                    "load_id": [f"load-{h}" for h in hours],
                    "source": [source] * len(hours),
                    "entity": [entity] * len(hours),
                    "finished_at": [NOW - dt.timedelta(hours=h) for h in hours],
                },
                schema={
                    "load_id": pl.String,
                    "source": pl.String,
                    "entity": pl.String,
                    "finished_at": pl.Datetime("us"),
                },
            )
            record_load(con, f"raw_{source}", log)
        # What the data-health page needs besides freshness: an as-of date and the GX history.
        con.execute("create schema marts")
        con.execute("create table marts.fct_ar_aging as select date '2026-06-30' as as_of_date")
        record_results(con, [], run_id="none")
    finally:
        con.close()
    return data


def run_checks() -> dict[AssetKey, AssetCheckEvaluation]:
    # The definitions load the manifest (`make setup` parses it); the check parses it again only
    # when it was parsed with another bound than the setting's.
    if not MANIFEST.exists():
        prepare_manifest()
    from orchestration.definitions import defs

    job = defs().resolve_job_def("source_freshness_checks")
    result = job.execute_in_process(instance=DagsterInstance.ephemeral())
    assert result.success
    return {e.asset_key: e for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def evaluations(data: Path) -> dict[AssetKey, AssetCheckEvaluation]:
    """The checks run once, with the default bound (30 hours)."""
    return run_checks()


def test_checks_report_dbts_verdict_and_skip_what_is_not_configured(
    data: Path, evaluations: dict[AssetKey, AssetCheckEvaluation]
) -> None:
    # Evaluated: the tables of configured sources that were loaded. Not evaluated (skipped):
    # the bank and the ERP (not configured), and the ops table never loaded here.
    assert set(evaluations) == {
        AssetKey(["fx", "fx_rates"]),
        AssetKey(["processor", "payments"]),
        AssetKey(["ops", "collection_actions"]),
    }
    fresh, stale = evaluations[AssetKey(["fx", "fx_rates"])], evaluations[AssetKey(["processor", "payments"])]
    assert fresh.passed and fresh.metadata["status"].value == "pass"
    assert evaluations[AssetKey(["ops", "collection_actions"])].passed
    assert not stale.passed
    assert stale.severity == AssetCheckSeverity.ERROR
    assert stale.metadata["status"].value == "error"
    assert stale.metadata["error_after"].value == "30 hour"
    # The age measured is the time since the newest load: 40 h, plus the time since the loads were
    # dated (minutes on a loaded machine), to the check's 2 decimals.
    since = (dt.datetime.now(dt.UTC).replace(tzinfo=None) - NOW).total_seconds() / 3600 + 0.01
    assert 40.0 <= stale.metadata["age_hours"].value <= 40 + since
    assert 2.0 <= fresh.metadata["age_hours"].value <= 2 + since

    # The recorded verdicts, for the data-health page.
    con = duckdb.connect(str(data / "warehouse" / "warehouse.duckdb"), read_only=True)
    try:
        recorded = dict(
            ((s, e), st)
            for s, e, st in con.sql("select source, entity, status from quality.source_freshness").fetchall()
        )
    finally:
        con.close()
    assert recorded[("processor", "payments")] == "error"
    assert recorded[("fx", "fx_rates")] == "pass"
    assert recorded[("bank", "payments")] == "not configured"
    assert recorded[("ops", "manual_cash_applications")] == "not configured"
    assert recorded[("erp", "invoices")] == "not configured"


def test_data_health_shows_the_recorded_verdicts(data: Path, evaluations: dict[AssetKey, AssetCheckEvaluation]) -> None:
    checks = [
        {"asset": k.to_user_string(), "check": e.check_name, "passed": e.passed, "severity": e.severity.value}
        for k, e in evaluations.items()
    ]
    # The publish gate: the stale table's failed error check blocks nothing, while the same failure
    # of any other check would.
    stale = next(c for c in checks if c["asset"] == "processor/payments")
    assert not stale["passed"] and stale["severity"] == "ERROR"
    assert not any(blocking(c) for c in checks)
    assert blocking({**stale, "check": "not_null_stg_processor__payments_payment_id"})
    warehouse = data / "warehouse" / "warehouse.duckdb"
    # recorded as the publish step records them, with its verdict, which the page shows
    recorded_checks = [{**c, "blocking": blocking(c)} for c in checks]
    publish(warehouse, data / "warehouse" / "serving.duckdb", build_id="test", checks=recorded_checks)

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at = at.switch_page("app_pages/data_health.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    shown = next(d.value for d in at.dataframe if "stale" in d.value.columns)
    rows = {(r["source"], r["entity"]): (r["status"], r["stale"]) for r in shown.to_dict("records")}
    assert rows[("processor", "payments")] == ("error", True)
    assert rows[("fx", "fx_rates")] == ("pass", False)
    # Not configured: neither fresh nor stale.
    status, is_stale = rows[("bank", "payments")]
    assert status == "not configured" and is_stale is None
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Stale source tables"] == "1"
    assert metrics["Failed (blocking)"] == "0"  # the stale source's failed check blocked nothing


def test_the_setting_is_the_bound_dbt_applies(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """O2C_SOURCE_FRESHNESS_HOURS reaches dbt as the sources' error_after: at 48 hours, a table
    loaded 40 hours ago is fresh. Runs last: it records new verdicts in the shared warehouse."""
    monkeypatch.setenv("O2C_SOURCE_FRESHNESS_HOURS", "48")
    again = run_checks()
    assert again[AssetKey(["processor", "payments"])].passed
    assert again[AssetKey(["processor", "payments"])].metadata["error_after"].value == "48 hour"


@pytest.mark.parametrize(
    ("warn_after", "error_after"), [(None, (30, "hour")), ((2, "hour"), (1, "day")), ((90, "minute"), None)]
)
def test_the_verdict_is_dbts_for_every_age(
    warn_after: tuple[int, str] | None, error_after: tuple[int, str] | None
) -> None:
    """freshness.status gives dbt's own verdict (FreshnessThreshold.status), on and around each bound."""

    def both(bound: tuple[int, str] | None) -> tuple[freshness.Bound | None, Time]:
        if bound is None:
            return None, Time(count=None, period=None)
        return freshness.Bound(*bound), Time(count=bound[0], period=TimePeriod(bound[1]))

    (warn, dbt_warn), (error, dbt_error) = both(warn_after), both(error_after)
    rule = freshness.Rule("s", "t", "raw_s", "t", warn, error, None, freshness.LOAD_LOG_QUERY, None)
    dbt = FreshnessThreshold(warn_after=dbt_warn, error_after=dbt_error)
    bounds = [b.seconds() for b in (warn, error) if b is not None]
    ages = [0.0] + [b + d for b in bounds for d in (-1.0, 0.0, 0.5, 1.0)] + [10 * max(bounds)]
    for age in ages:
        assert freshness.status(age, rule) == str(dbt.status(age)), age
