"""Benchmark driver: `make bench SCALE=s|m|l`.

Generates a world of the given scale, then runs each pipeline stage as its own process and
records its wall time and peak memory (RSS of the whole process tree, sampled): simulate,
ingest per source, the data-quality checks on the raw loads, dbt build (the marts' data tests
included, as in the pipeline; per-model times from dbt's run results), forecasting, publish,
and the daily incremental run after `simulate --advance 1`. Then one more day as the daily
schedule runs it: `o2c run`, every step in one process (its steps' times from Dagster's record of
the run), and the full build once more as an operator makes it, `o2c run` on a copy of the new
world's sources. Results go to benchmarks/results/<scale>-<date>.json and the table in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import engine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"
# Customers for two years of history: about 0.1 invoices per customer per day. `l-half`
# (5 M invoices) sits between m and l to show how the stages grow.
SCALES = {"xs": 60, "s": 700, "m": 14_000, "l-half": 70_000, "l": 140_000}
DAYS = 730
END = "2026-06-30"
SOURCES = ("erp", "processor", "bank", "fx", "ops")


def measure(name: str, command: list[str], env: dict[str, str]) -> dict[str, object]:
    """Run one stage; its wall time and the peak RSS of its process tree."""
    started = time.perf_counter()
    # The stage's output goes to a file, not a pipe: nothing reads a pipe while the stage runs,
    # and a stage that writes more than the pipe holds (dbt's 300-node log) would block on it.
    with tempfile.TemporaryFile("w+") as log:
        process = psutil.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        peak = 0
        while process.poll() is None:
            try:
                tree = [process, *process.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)
        log.seek(0)
        output = log.read()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"stage {name} failed ({process.returncode}):\n{output[-3000:]}")
    print(f"  {name:<28} {seconds:8.1f} s  {peak / 2**20:8.0f} MiB", flush=True)
    return {"stage": name, "seconds": round(seconds, 2), "peak_rss_mib": round(peak / 2**20, 1)}


def counts(warehouse: Path) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            name: con.sql(f"select count(*) from {name}").fetchall()[0][0]
            for name in ("raw_erp.invoices", "raw_erp.invoice_lines", "raw_bank.payments", "raw_processor.payments")
        }
    finally:
        con.close()


def first_load_ids(warehouse: Path) -> dict[str, str]:
    """Each file source's load so far (the full build's), by source."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            source: con.execute(f"select max(load_id) from raw_{source}._o2c_load_log").fetchall()[0][0]
            for source in ("processor", "bank")
        }
    finally:
        con.close()


def ingestion_seconds(warehouse: Path, load_ids: dict[str, str]) -> dict[str, float]:
    """The file sources' own time in the full build (their load log: from reading the first file to
    the load recorded), without the seconds a stage process spends starting and importing."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            source: con.execute(
                f"select epoch(max(finished_at) - min(started_at)) from raw_{source}._o2c_load_log where load_id = ?",
                [load_id],
            ).fetchall()[0][0]
            for source, load_id in load_ids.items()
        }
    finally:
        con.close()


def last_build_target(work: Path) -> Path:
    """dbt's output of the last `o2c build` in this world: each writes its own folder under the
    data directory's dbt_runs/ (docs/operations.md)."""
    return max((work / "dbt_runs").glob("o2c-build-*/target"), key=lambda p: p.stat().st_mtime_ns)


def dbt_models(target: Path) -> list[dict[str, object]]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    models = [r for r in results if r["unique_id"].startswith("model.")]
    return sorted(
        ({"model": r["unique_id"].split(".")[-1], "seconds": round(r["execution_time"], 2)} for r in models),
        key=lambda m: -m["seconds"],
    )


def dbt_elapsed(target: Path) -> float:
    """dbt's own time for the command (run_results.json), without the process around it."""
    return round(json.loads((target / "run_results.json").read_text())["elapsed_time"], 2)


def pipeline_steps(work: Path) -> dict[str, object]:
    """The last `o2c run` in this world as Dagster recorded it: its own seconds (from its first step
    starting to its last ending, without the process's start) and each step's."""
    from dagster import DagsterInstance

    # o2c's event log storage finds its files under DAGSTER_HOME, as in the run; set only while
    # reading, so that the stages measured after this one start from the bench's own environment.
    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(work / "dagster")
    instance = DagsterInstance.get()
    try:
        (last,) = instance.get_runs(limit=1)
        run = instance.get_run_stats(last.run_id)
        steps = sorted(instance.get_run_step_stats(last.run_id), key=lambda step: step.start_time)
        return {
            "status": last.status.value,
            "seconds": round(run.end_time - run.start_time, 2),
            "steps": [{"step": step.step_key, "seconds": round(step.end_time - step.start_time, 2)} for step in steps],
        }
    finally:
        instance.dispose()
        if before is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = before


def keep_warehouse(work: Path, world: Path) -> None:
    """A copy of the world's warehouse as it is now, as the warehouse of `world`."""
    (world / "warehouse").mkdir(parents=True)
    shutil.copyfile(work / "warehouse" / "warehouse.duckdb", world / "warehouse" / "warehouse.duckdb")


def on_spark(name: str, world: Path, spark: Path) -> dict[str, object]:
    """`o2c build` on Apache Spark (in-process, local[2]) from the DuckDB world's warehouse as it is
    now: the raw tables go to the lake as Parquet, Spark builds the models, the published ones come
    back. `spark` is its own data directory (lake, Spark's tables and metastore), kept from the full
    build to the daily one as a deployment keeps it, so the daily build's incremental models and
    lake export start from the full build's."""
    (spark / "warehouse").mkdir(parents=True, exist_ok=True)
    warehouse = spark / "warehouse" / "warehouse.duckdb"
    shutil.copyfile(world / "warehouse" / "warehouse.duckdb", warehouse)
    env = {**os.environ, "O2C_DATA_DIR": str(spark), "O2C_WAREHOUSE_PATH": str(warehouse), "O2C_ENGINE": "spark"}
    stage = measure(name, [sys.executable, "-m", "orchestration.cli", "build"], env)
    return {**stage, "dbt_seconds": dbt_elapsed(last_build_target(spark))}


def run(scale: str, work: Path, spark: bool = False) -> dict[str, object]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {
        **os.environ,
        "O2C_DATA_DIR": str(work),
        "O2C_WAREHOUSE_PATH": str(work / "warehouse" / "warehouse.duckdb"),
    }
    o2c = [sys.executable, "-m", "orchestration.cli"]
    publish = [
        sys.executable, "-c",
        "from orchestration.serving import publish, replaced_by_key; from orchestration.dbt_runner import MANIFEST; "
        "from core.settings import get_settings; "
        "s = get_settings(); publish(s.warehouse, s.serving, 'bench', [], replaced_by_key=replaced_by_key(MANIFEST))",
    ]  # fmt: skip
    print(f"scale {scale}: {SCALES[scale]:,} customers × {DAYS} days in {work}", flush=True)
    stages = [
        measure(
            "simulate",
            [
                *o2c,
                "simulate",
                "--customers",
                str(SCALES[scale]),
                "--days",
                str(DAYS),
                "--seed",
                "1",
                "--end-date",
                END,
            ],
            env,
        )
    ]
    # The same world for the full build as an operator's first `o2c run` (below): its sources
    # as simulated, before any stage reads them.
    first_run = work.with_name(f"{work.name}-first-run")
    shutil.rmtree(first_run, ignore_errors=True)
    shutil.copytree(work / "sources", first_run / "sources")
    for source in SOURCES:
        stages.append(measure(f"ingest {source}", [*o2c, "ingest", "--source", source], env))
    load_ids = first_load_ids(work / "warehouse" / "warehouse.duckdb")
    stages.append(measure("checks (raw loads)", [*o2c, "check", "--no-marts"], env))
    stages.append(measure("dbt build", [*o2c, "build"], env))
    target = last_build_target(work)
    models = dbt_models(target)
    engines = {"duckdb": [{**stages[-1], "dbt_seconds": dbt_elapsed(target)}], "spark": []}
    # The marts' data tests run inside `dbt build`, as in the pipeline: no separate stage for them.
    # The same SQL straight into DuckDB, before later builds overwrite dbt's run results.
    engine_sql = engine.raw_sql_seconds(work / "warehouse" / "warehouse.duckdb", target, work)
    stages.append(measure("forecasting", [*o2c, "forecast"], env))
    stages.append(measure("publish", publish, env))
    rows = counts(work / "warehouse" / "warehouse.duckdb")
    direct = engine.direct_file_reads(work / "sources" / "landing")
    latency = engine.dashboard_latency(work / "warehouse" / "serving.duckdb")
    if spark:  # the world Spark's full build starts from: the raw tables before the daily load
        keep_warehouse(work, work / "before-daily")
    daily = [measure("daily: simulate --advance 1", [*o2c, "simulate", "--advance", "1"], env)]
    for source in SOURCES:
        daily.append(measure(f"daily: ingest {source}", [*o2c, "ingest", "--source", source], env))
    daily.append(measure("daily: checks", [*o2c, "check", "--no-marts"], env))
    daily.append(measure("daily: dbt build", [*o2c, "build"], env))
    engines["duckdb"].append({**daily[-1], "dbt_seconds": dbt_elapsed(last_build_target(work))})
    daily.append(measure("daily: forecasting", [*o2c, "forecast"], env))
    daily.append(measure("daily: publish", publish, env))
    if spark:  # the world Spark's daily build reads: the raw tables after this day's load only
        keep_warehouse(work, work / "after-daily")
    # The daily schedule runs every step in one process: what an operator's day costs, without a
    # process start (imports, settings, dbt's parse check) per stage.
    one_process = [measure("next day: simulate --advance 1", [*o2c, "simulate", "--advance", "1"], env)]
    one_process.append({**measure("next day: o2c run", [*o2c, "run"], env), "dagster": pipeline_steps(work)})
    # The full build as an operator makes it, `o2c run` on the new world: every step in one
    # process, without a process start per stage. Its folder goes once measured (at l it is
    # the size of the world).
    first_env = {
        **env,
        "O2C_DATA_DIR": str(first_run),
        "O2C_WAREHOUSE_PATH": str(first_run / "warehouse" / "warehouse.duckdb"),
    }
    full_run = {**measure("full build: o2c run", [*o2c, "run"], first_env), "dagster": pipeline_steps(first_run)}
    full_run["rows"] = counts(first_run / "warehouse" / "warehouse.duckdb")  # the same world as the stages'
    shutil.rmtree(first_run)
    if spark:
        # Last, so that Spark's JVM never shares the machine with a DuckDB stage being measured.
        # Both builds read the raw tables as they were before the day's load and after it (not
        # the next day's, which only the one-process run measures).
        engines["spark"] = [
            on_spark("dbt build on Spark", work / "before-daily", work / "spark"),
            on_spark("daily: dbt build on Spark", work / "after-daily", work / "spark"),
        ]
    full = sum(s["seconds"] for s in stages if s["stage"] != "simulate")
    seconds = {s["stage"]: s["seconds"] for s in stages}
    own_time = ingestion_seconds(work / "warehouse" / "warehouse.duckdb", load_ids)
    ingestion = {
        source: {
            "pipeline_rows_per_second": round(direct[source]["rows"] / seconds[f"ingest {source}"]),
            "pipeline_rows_per_second_own_time": round(direct[source]["rows"] / own_time[source]),
            "duckdb_rows_per_second": direct[source]["rows_per_second"],
        }
        for source in direct
    }
    incremental = sum(s["seconds"] for s in daily if "simulate" not in s["stage"])
    return {
        "scale": scale,
        "date": dt.date.today().isoformat(),
        "machine": {"cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "platform": platform.platform()},
        "customers": SCALES[scale],
        "days": DAYS,
        "rows": rows,
        "stages": stages,
        "daily": daily,
        "daily_one_process": one_process,
        "full_build_one_process": full_run,
        "full_build_seconds": round(full, 1),
        "full_build_run_seconds": full_run["seconds"],
        "daily_build_seconds": round(incremental, 1),
        "daily_run_seconds": one_process[-1]["seconds"],
        "slowest_models": models[:10],
        "engine": {
            **engine_sql,
            "dbt_build_seconds": seconds["dbt build"],
            "dbt_over_raw_sql": round(seconds["dbt build"] / max(engine_sql["raw_sql_seconds"], 0.01), 2),
            "ingestion": ingestion,
        },
        "dashboard_latency": latency,
        **({"engines": engines} if spark else {}),
    }  # fmt: skip


def markdown(result: dict[str, object], last_spark_run: tuple[str, dict[str, object]] | None = None) -> str:
    """The scale's block of docs/performance.md; without Spark in `result`, the Spark table of
    `last_spark_run` (its results file's name, its figures), said to be from that run."""
    lines = [
        f"### Scale {result['scale']} ({result['date']})",
        "",
        f"{result['customers']:,} customers × {result['days']} days: "
        + ", ".join(f"{k} {v:,}" for k, v in result["rows"].items())
        + f". Machine: {result['machine']['cores']} cores, {result['machine']['memory_gib']} GiB.",
        "",
        "| stage | seconds | peak RSS (MiB) |",
        "|---|---:|---:|",
        *(
            f"| {s['stage']} | {s['seconds']} | {s['peak_rss_mib']} |"
            for s in result["stages"]
            + result["daily"]
            + result.get("daily_one_process", [])
            + ([result["full_build_one_process"]] if "full_build_one_process" in result else [])
        ),
        "",
        f"Full build (ingest → checks → dbt → checks → forecasting → publish): **{result['full_build_seconds']} s**; "
        f"daily incremental run: **{result['daily_build_seconds']} s**.",
        "",
        *_one_process_lines(result),
        "Slowest dbt models: "
        + ", ".join(f"{m['model']} {m['seconds']} s" for m in result["slowest_models"][:5])
        + ".",
        "",
        *_engine_lines(result),
        *_spark_lines(result, last_spark_run),
    ]
    return "\n".join(lines)


def _one_process_lines(result: dict[str, object]) -> list[str]:
    """The full build as an operator's first `o2c run` and the next day as the daily schedule runs
    it, each when the run measured it."""
    lines = []
    if "full_build_one_process" in result:
        run = result["full_build_one_process"]
        lines += [
            f"The full build as an operator makes it (`o2c run` on the same world, every step in one process): "
            f"**{run['seconds']} s**, peak {run['peak_rss_mib']:,.0f} MiB; {_dagster_steps(run)}",
            "",
        ]
    if "daily_one_process" in result:
        run = result["daily_one_process"][-1]
        share = 100 * run["seconds"] / result["full_build_seconds"]
        lines += [
            f"The next day as the daily schedule runs it (`o2c run`, every step in one process): "
            f"**{run['seconds']} s, {share:.0f} %** of the full build, peak {run['peak_rss_mib']:,.0f} MiB; "
            f"{_dagster_steps(run)}",
            "",
        ]
    return lines


def _dagster_steps(run: dict[str, object]) -> str:
    steps = sorted(run["dagster"]["steps"], key=lambda step: -step["seconds"])
    return (
        f"{run['dagster']['seconds']} s from its first step's start to its last step's end. Its slowest steps: "
        + ", ".join(f"{step['step']} {step['seconds']} s" for step in steps[:5])
        + "."
    )


def _spark_lines(result: dict[str, object], last_spark_run: tuple[str, dict[str, object]] | None) -> list[str]:
    """The dbt build on DuckDB and on Spark, side by side (`--spark`, or the last run with it)."""
    engines, when_run = result.get("engines"), ""
    if not engines and last_spark_run:
        name, earlier = last_spark_run
        engines = earlier["engines"]
        when_run = f" in the last run that built on Spark too ({earlier['date']}, `benchmarks/results/{name}`)"
    if not engines:
        return []
    rows = [
        f"| {when} | {duck['seconds']} s ({duck['dbt_seconds']} s of dbt), {duck['peak_rss_mib']:,.0f} MiB "
        f"| {spark['seconds']} s ({spark['dbt_seconds']} s of dbt), {spark['peak_rss_mib']:,.0f} MiB |"
        for when, duck, spark in zip(("full", "daily"), engines["duckdb"], engines["spark"], strict=True)
    ]
    return [
        f"The same `o2c build` on each engine{when_run} (Spark: local[2], in this process; its time includes "
        "exporting the changed raw tables to the lake and bringing the published marts back):",
        "",
        "| build | DuckDB | Spark |",
        "|---|---:|---:|",
        *rows,
        "",
    ]


def _engine_lines(result: dict[str, object]) -> list[str]:
    engine_result = result.get("engine")
    if not engine_result:
        return []
    latency = [q for q in result["dashboard_latency"] if q["p95_ms"] is not None]
    worst = max(latency, key=lambda q: q["p95_ms"])
    return [
        f"Engine limit: dbt build {engine_result['dbt_build_seconds']} s (its models' own times add up to "
        f"{engine_result['dbt_model_seconds']} s over dbt's threads; tests and start-up are the rest) against "
        f"{engine_result['raw_sql_seconds']} s for the same SQL run one statement after another in one DuckDB "
        f"process ({engine_result['models']} models {engine_result['raw_model_sql_seconds']} s, "
        f"{engine_result['tests']} data tests {engine_result['raw_test_sql_seconds']} s): "
        f"**{engine_result['dbt_over_raw_sql']}×**.",
        "",
        "| files | pipeline rows/s (stage) | pipeline rows/s (its own time) | DuckDB reading them rows/s |",
        "|---|---:|---:|---:|",
        *(
            f"| {source} | {v['pipeline_rows_per_second']:,} | {v['pipeline_rows_per_second_own_time']:,} "
            f"| {v['duckdb_rows_per_second']:,} |"
            for source, v in engine_result["ingestion"].items()
        ),
        "",
        f"Dashboard queries ({len(latency)}, 20 runs each on the serving file): p95 at most "
        f"**{worst['p95_ms']} ms** ({worst['query']}); median of the p50s "
        f"{sorted(q['p50_ms'] for q in latency)[len(latency) // 2]} ms.",
        "",
    ]


def last_spark_run(folder: Path, scale: str) -> tuple[str, dict[str, object]] | None:
    """The latest recorded run of `scale` that built on Spark too: its results file's name and
    figures (runs of a day in the order results_path numbers them; a file renamed by hand, such
    as `m-2026-12-03-pm.json`, counts as its day's first)."""
    runs = []
    for path in folder.glob(f"{scale}-*.json"):
        result = json.loads(path.read_text())
        if result.get("scale") == scale and result.get("engines"):
            run = path.stem.removeprefix(f"{scale}-{result['date']}").removeprefix("-") or "1"
            runs.append(((str(result["date"]), int(run) if run.isdigit() else 1), path.name, result))
    if not runs:
        return None
    _, name, result = max(runs, key=lambda found: found[0])
    return name, result


def results_path(folder: Path, scale: str, date: str) -> Path:
    """`<scale>-<date>.json`, or `<scale>-<date>-2.json` and on for a later run of the same day:
    a run never overwrites another's results."""
    folder.mkdir(parents=True, exist_ok=True)
    path, run = folder / f"{scale}-{date}.json", 1
    while path.exists():
        run += 1
        path = folder / f"{scale}-{date}-{run}.json"
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=list(SCALES), default="s")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--no-record", action="store_true", help="Print only; write no result file or doc.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Folder for <scale>-<date>[-<run>].json.")
    parser.add_argument("--doc", type=Path, default=PERFORMANCE_DOC, help="Markdown file holding the tables.")
    parser.add_argument("--spark", action="store_true", help="Also build the world on Apache Spark (local), after.")
    args = parser.parse_args()
    result = run(args.scale, args.work / args.scale, spark=args.spark)
    if args.no_record:
        print(json.dumps(result, indent=2))
        return
    path = results_path(args.results, args.scale, str(result["date"]))
    path.write_text(json.dumps(result, indent=2) + "\n")
    begin, end = f"<!-- BEGIN SCALE {args.scale} -->", f"<!-- END SCALE {args.scale} -->"
    doc = args.doc.read_text() if args.doc.exists() else "# Performance\n"
    section = f"{begin}\n{markdown(result, None if args.spark else last_spark_run(args.results, args.scale))}{end}"
    doc = doc.split(begin)[0] + section + doc.split(end)[1] if begin in doc else doc.rstrip() + "\n\n" + section + "\n"
    args.doc.write_text(doc)
    print(f"Recorded {path} and {args.doc}")


if __name__ == "__main__":
    main()
