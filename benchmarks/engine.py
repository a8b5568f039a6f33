"""How close the pipeline is to the engine: the same SQL without dbt, the same files without dlt,
and every dashboard query's latency on the serving file."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT / "dashboards" / "queries"


def _topological(nodes: dict[str, dict]) -> list[str]:
    order, seen = [], set()

    def visit(uid: str) -> None:
        if uid in seen:
            return
        seen.add(uid)
        for parent in nodes[uid]["depends_on"]["nodes"]:
            if parent in nodes:
                visit(parent)
        order.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    return order


def raw_sql_seconds(warehouse: Path, target: Path, scratch: Path) -> dict[str, object]:
    """The SQL `dbt build` ran, run directly in one DuckDB process on a copy of the warehouse: every
    model's compiled SQL as a full build (views as views, everything else as tables), then every
    data test's compiled SQL counted as dbt counts its failures. The engine's own time for the
    build's work, against which dbt's start-up, bookkeeping and materialisation are measured."""
    manifest = json.loads((target / "manifest.json").read_text())
    results = json.loads((target / "run_results.json").read_text())["results"]
    compiled = {r["unique_id"]: r.get("compiled_code") for r in results}
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model" and compiled.get(uid)}
    tests = [uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "test" and compiled.get(uid)]
    # Same file name, so the catalog name the compiled SQL uses resolves in the copy.
    copy = scratch / "engine" / warehouse.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        started = time.perf_counter()
        for uid in _topological(nodes):
            node = nodes[uid]
            relation = f'"{node["schema"]}"."{node["alias"] or node["name"]}"'
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            con.execute(f"create or replace {kind} {relation} as {compiled[uid]}")
        models_done = time.perf_counter()
        for uid in sorted(tests):
            con.execute(f"select count(*) from ({compiled[uid]}) as dbt_internal_test").fetchall()
        tests_done = time.perf_counter()
    finally:
        con.close()
        copy.unlink(missing_ok=True)
    model_seconds = sum(r["execution_time"] for r in results if r["unique_id"].startswith("model."))
    return {
        "models": len(nodes),
        "tests": len(tests),
        "raw_sql_seconds": round(tests_done - started, 2),
        "raw_model_sql_seconds": round(models_done - started, 2),
        "raw_test_sql_seconds": round(tests_done - models_done, 2),
        "dbt_model_seconds": round(model_seconds, 2),
    }


def direct_file_reads(landing: Path) -> dict[str, dict[str, float]]:
    """DuckDB reading the payment and bank files itself: rows and rows per second."""
    # Every line parsed as a JSON object (each file has its own inferred layout otherwise, which
    # costs far more than the parse), every CSV field read as text: what the pipeline does first.
    readers = {
        "processor": f"select json_extract_string(json, '$.id') from read_ndjson_objects('{landing / 'processor'}/**/*.jsonl')",
        "bank": f"select * from read_csv('{landing / 'bank'}/**/*.csv', header = true, all_varchar = true)",
    }
    out = {}
    con = duckdb.connect()
    try:
        con.execute("set memory_limit = '4GB'")
        for source, reader in readers.items():
            started = time.perf_counter()
            rows = con.execute(f"select count(*) from ({reader})").fetchall()[0][0]
            seconds = time.perf_counter() - started
            out[source] = {"rows": rows, "seconds": round(seconds, 3), "rows_per_second": round(rows / seconds)}
    finally:
        con.close()
    return out


def _samples(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    as_of = con.execute("select max(as_of_date) from marts.fct_ar_aging").fetchall()[0][0]
    customer = con.execute(
        "select customer_id from marts.dim_customers order by open_ar_rc desc nulls last limit 1"
    ).fetchall()[0][0]
    collector = con.execute(
        "select collector_id from marts.dim_customers group by 1 order by count(*) desc limit 1"
    ).fetchall()[0][0]
    # The receipt holding the most money on account, as the Unapplied cash page opens it.
    receipt = con.execute(
        "select payment_id, currency from marts.fct_unapplied_cash order by unapplied_amount_rc desc, payment_id limit 1"
    ).fetchall()
    payment, currency = receipt[0] if receipt else (None, None)
    month_start, period_end = con.execute(
        "select month_start, period_end from marts.fct_ar_kpis_monthly order by month_start desc limit 1"
    ).fetchall()[0]
    return {
        "as_of": as_of,
        "as_of_date": as_of,
        "date_from": as_of.replace(year=as_of.year - 1),
        "date_to": as_of,
        "collectors": [],
        "regions": [],
        "segments": [],
        "currencies": [],
        "search": "",
        "customer_id": customer,
        "customer_ids": [customer],  # the worklist's customers, whose built actions it looks up
        "kind": "customer",  # visible_ids: which of these ids a signed-in user may see
        "ids": [customer],
        "collector_id": collector,
        "payment_id": payment,
        "currency": currency,
        "month_start": month_start,
        "period_end": period_end,
        "limit": 10,
    }


def dashboard_latency(serving: Path, repeats: int = 20) -> list[dict[str, object]]:
    """p50 and p95 of every dashboard query (dashboards/queries/*.sql) on the serving file, with
    the parameters a page would pass (today's as-of date, the largest customer and collector).
    A query over a table this build has not published is listed with no timings: the bench runs
    the stages one by one, without the Dagster source-freshness check that records
    quality.source_freshness (the page says so too)."""
    from core.serving import open_read_only
    from dashboards.db import ROW_LIMITS

    con = open_read_only(serving)
    try:
        samples = _samples(con)
        out = []
        for path in sorted(QUERIES.glob("*.sql")):
            text = path.read_text().replace("{order_by}", "overdue_ar_rc")
            names = set(re.findall(r"\$([a-z_]+)", text))
            params = {name: samples[name] for name in names}
            if "limit" in params:
                params["limit"] = ROW_LIMITS.get(path.stem, params["limit"])
            try:
                con.sql(text, params=params).fetchall()
            except duckdb.CatalogException:
                out.append({"query": path.stem, "p50_ms": None, "p95_ms": None})
                continue
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                con.sql(text, params=params).fetchall()
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            out.append(
                {
                    "query": path.stem,
                    "p50_ms": round(statistics.median(timings), 1),
                    "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 1),
                }
            )
        return out
    finally:
        con.close()
