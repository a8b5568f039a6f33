"""`make bench` as a smoke test: the driver runs every stage at scale xs (the smallest; the
driver is the same at every scale, and xs keeps the suite's time for tests of behaviour) and
writes a complete results file and its performance table. Timings are reported, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.run import last_spark_run, markdown, results_path
from core.settings import REPO_ROOT

STAGES = {
    "simulate",
    "ingest erp",
    "ingest processor",
    "ingest bank",
    "ingest fx",
    "ingest ops",
    "checks (raw loads)",
    "dbt build",
    "forecasting",
    "publish",
}


def test_bench_writes_a_complete_results_file(tmp_path: Path) -> None:
    results, doc = tmp_path / "results", tmp_path / "performance.md"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "run.py"),
            "--scale",
            "xs",
            "--work",
            str(tmp_path / "work"),
            "--results",
            str(results),
            "--doc",
            str(doc),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (path,) = results.glob("xs-*.json")
    result = json.loads(path.read_text())
    assert {s["stage"] for s in result["stages"]} == STAGES
    assert all(s["seconds"] > 0 and s["peak_rss_mib"] > 0 for s in result["stages"] + result["daily"])
    assert {s["stage"] for s in result["daily"]} >= {"daily: dbt build", "daily: forecasting", "daily: publish"}
    # The next day in one process, as the schedule runs it, with Dagster's record of its steps.
    simulate, one_process = result["daily_one_process"]
    assert (simulate["stage"], one_process["stage"]) == ("next day: simulate --advance 1", "next day: o2c run")
    assert one_process["dagster"]["status"] == "SUCCESS"
    steps = {step["step"]: step["seconds"] for step in one_process["dagster"]["steps"]}
    assert {"raw_erp", "raw_bank", "gx_sources", "o2c_dbt_assets", "serving__warehouse"} <= set(steps)
    assert 0 < sum(steps.values()) <= one_process["dagster"]["seconds"] <= one_process["seconds"]
    assert result["daily_run_seconds"] == one_process["seconds"]
    # The full build once more as an operator makes it: `o2c run` on the same world, in one process.
    first_run = result["full_build_one_process"]
    assert first_run["stage"] == "full build: o2c run" and first_run["dagster"]["status"] == "SUCCESS"
    first_steps = {step["step"] for step in first_run["dagster"]["steps"]}
    assert {"raw_erp", "raw_processor", "gx_sources", "o2c_dbt_assets", "serving__warehouse"} <= first_steps
    assert first_run["rows"] == result["rows"]  # the same world loaded, raw table by raw table
    assert result["full_build_run_seconds"] == first_run["seconds"] > 0
    assert 2_000 < result["rows"]["raw_erp.invoices"] < 8_000  # scale xs: 60 customers, about 4,400 invoices
    assert result["engine"]["models"] >= 40 and result["engine"]["raw_sql_seconds"] > 0
    assert result["engine"]["dbt_over_raw_sql"] > 0
    # The engine's side runs the same work as the build: the models' SQL, then the data tests'.
    assert result["engine"]["tests"] >= 100 and result["engine"]["raw_test_sql_seconds"] > 0
    assert result["engine"]["raw_sql_seconds"] >= result["engine"]["raw_model_sql_seconds"]
    assert set(result["engine"]["ingestion"]) == {"processor", "bank"}
    # A source's own time (its load log) is the stage's less the process starting.
    for rates in result["engine"]["ingestion"].values():
        assert rates["pipeline_rows_per_second_own_time"] > rates["pipeline_rows_per_second"]
    queries = {p.stem for p in (REPO_ROOT / "dashboards" / "queries").glob("*.sql")}
    assert {q["query"] for q in result["dashboard_latency"]} == queries
    measured = [q for q in result["dashboard_latency"] if q["p50_ms"] is not None]
    # Not measured: only what the stage-by-stage bench does not build (the freshness check's table).
    assert {q["query"] for q in result["dashboard_latency"]} - {q["query"] for q in measured} <= {"source_freshness"}
    assert all(0 < q["p50_ms"] <= q["p95_ms"] for q in measured)
    text = doc.read_text()
    assert "as the daily schedule runs it (`o2c run`" in text and "| next day: o2c run |" in text
    assert "The full build as an operator makes it (`o2c run`" in text and "| full build: o2c run |" in text
    assert "<!-- BEGIN SCALE xs -->" in text and "Engine limit" in text and "Dashboard queries" in text


def test_a_second_run_of_the_day_gets_its_own_results_file(tmp_path: Path) -> None:
    first = results_path(tmp_path / "results", "m", "2026-12-03")
    assert first == tmp_path / "results" / "m-2026-12-03.json"
    first.write_text("{}")
    second = results_path(tmp_path / "results", "m", "2026-12-03")
    assert second.name == "m-2026-12-03-2.json"
    second.write_text("{}")
    assert results_path(tmp_path / "results", "m", "2026-12-03").name == "m-2026-12-03-3.json"
    assert results_path(tmp_path / "results", "s", "2026-12-03").name == "s-2026-12-03.json"


def test_a_run_without_spark_shows_the_last_spark_figures_and_says_from_when(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()

    def engines(full: float) -> dict[str, list[dict[str, float]]]:
        builds = [
            {"seconds": full, "dbt_seconds": full - 2, "peak_rss_mib": 1500.0},
            {"seconds": 7.5, "dbt_seconds": 6.0, "peak_rss_mib": 900.0},
        ]
        return {"duckdb": builds, "spark": [{**b, "seconds": b["seconds"] * 4} for b in builds]}

    recorded = {
        "m-2026-12-01.json": {"scale": "m", "date": "2026-12-01", "engines": engines(10.0)},
        "m-2026-12-02-2.json": {"scale": "m", "date": "2026-12-02", "engines": engines(20.0)},
        "m-2026-12-02-10.json": {"scale": "m", "date": "2026-12-02", "engines": engines(30.0)},
        "m-2026-12-02-pm.json": {"scale": "m", "date": "2026-12-02", "engines": engines(25.0)},  # renamed by hand
        "m-2026-12-03.json": {"scale": "m", "date": "2026-12-03"},  # without Spark
        "l-half-2026-12-04.json": {"scale": "l-half", "date": "2026-12-04", "engines": engines(40.0)},
    }
    for name, result in recorded.items():
        (results / name).write_text(json.dumps(result))
    assert last_spark_run(results, "l") is None  # l-half is another scale
    name, found = last_spark_run(results, "m")
    assert name == "m-2026-12-02-10.json" and found["engines"]["duckdb"][0]["seconds"] == 30.0
    this_run = {
        "scale": "m", "date": "2026-12-05", "customers": 10, "days": 30, "rows": {"raw_erp.invoices": 100},
        "machine": {"cores": 2, "memory_gib": 24}, "stages": [], "daily": [], "full_build_seconds": 50.0,
        "daily_build_seconds": 5.0, "slowest_models": [],
    }  # fmt: skip
    text = markdown(this_run, (name, found))
    assert "in the last run that built on Spark too (2026-12-02, `benchmarks/results/m-2026-12-02-10.json`)" in text
    assert "| full | 30.0 s (28.0 s of dbt), 1,500 MiB | 120.0 s (28.0 s of dbt), 1,500 MiB |" in text
    assert "| daily | 7.5 s (6.0 s of dbt), 900 MiB | 30.0 s (6.0 s of dbt), 900 MiB |" in text
    assert "Spark" not in markdown(this_run)  # no Spark run recorded: no Spark table
