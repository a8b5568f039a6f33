"""Source freshness: dbt's verdicts (`dbt source freshness`, target/sources.json) per raw table,
and the table that publishes them for the data-health page.

The definition (what is measured, the bounds) lives in dbt's sources YAML only
(dbt_project/models/staging/*/_*__sources.yml); this module reads dbt's results, it never
recomputes an age against a bound.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

QUALITY_SCHEMA = "quality"
TABLE = "source_freshness"

# dbt's statuses, and the one this project adds for a table this installation does not load.
PASS = "pass"
WARN = "warn"
ERROR = "error"
RUNTIME_ERROR = "runtime error"
NOT_CONFIGURED = "not configured"

# dbt reports a table with no load time at all (no load-log row) as loaded at 0001-01-01.
_NEVER = 1


@dataclass(frozen=True)
class Verdict:
    source: str
    entity: str
    status: str
    last_loaded_at: dt.datetime | None
    age_hours: float | None
    warn_after: str | None  # "30 hour", as dbt's criteria say it
    error_after: str | None
    message: str


def _bound(criteria: dict[str, Any], name: str) -> str | None:
    bound = criteria.get(name) or {}
    return f"{bound['count']} {bound['period']}" if bound.get("count") is not None else None


def _timestamp(text: str | None) -> dt.datetime | None:
    """dbt's ISO timestamps (UTC, with or without a Z) as naive UTC, the warehouse's convention."""
    if not text:
        return None
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp.astimezone(dt.UTC).replace(tzinfo=None) if stamp.tzinfo else stamp


def verdicts(results: list[dict[str, Any]], tables: list[tuple[str, str]], configured: list[str]) -> list[Verdict]:
    """One verdict per (source, entity) in `tables`: dbt's status from `results` (the "results"
    of sources.json), or NOT_CONFIGURED when this installation does not load the table (its source
    is not configured, or it was never loaded: a company without that file)."""
    by_table: dict[tuple[str, str], dict[str, Any]] = {}
    for result in results:
        # unique_id: source.<project>.<source>.<table>
        _, _, source, entity = result["unique_id"].split(".", 3)
        by_table[(source, entity)] = result
    out = []
    for source, entity in tables:
        result = by_table.get((source, entity))
        if source not in configured:
            out.append(_not_configured(source, entity, f"{source}: source not configured here"))
            continue
        if result is None:
            # dbt was asked for every configured source's tables: no result means dbt lost it.
            out.append(
                Verdict(source, entity, RUNTIME_ERROR, None, None, None, None, "no result from dbt source freshness")
            )
            continue
        status = result["status"]
        if status == RUNTIME_ERROR:
            message = str(result.get("message") or result.get("error") or "dbt source freshness failed")
            out.append(Verdict(source, entity, status, None, None, None, None, message))
            continue
        loaded = _timestamp(result.get("max_loaded_at"))
        if loaded is None or loaded.year == _NEVER:
            out.append(_not_configured(source, entity, f"{source}.{entity}: never loaded here"))
            continue
        criteria = result.get("criteria") or {}
        age = round(float(result["max_loaded_at_time_ago_in_s"]) / 3600, 2)
        warn_after, error_after = _bound(criteria, "warn_after"), _bound(criteria, "error_after")
        message = f"{source}.{entity}: loaded {age} hours ago ({status}; error after {error_after})"
        out.append(Verdict(source, entity, status, loaded, age, warn_after, error_after, message))
    return out


def _not_configured(source: str, entity: str, message: str) -> Verdict:
    return Verdict(source, entity, NOT_CONFIGURED, None, None, None, None, message)


def record(con: duckdb.DuckDBPyConnection, found: list[Verdict], checked_at: dt.datetime) -> None:
    """The latest verdict per table in quality.source_freshness, published with the other quality
    results: a check of some tables replaces their rows and leaves the others'."""
    con.execute(f"create schema if not exists {QUALITY_SCHEMA}")
    con.execute(
        f"create table if not exists {QUALITY_SCHEMA}.{TABLE} (source varchar, entity varchar, status varchar, "
        "last_loaded_at timestamp, age_hours double, warn_after varchar, error_after varchar, message varchar, "
        "checked_at timestamp)"
    )
    con.execute(
        f"comment on table {QUALITY_SCHEMA}.{TABLE} is 'dbt source freshness per raw table, as of the last "
        "check: pass, warn, error, runtime error, or not configured (not loaded by this installation).'"
    )
    for v in found:
        con.execute(f"delete from {QUALITY_SCHEMA}.{TABLE} where source = ? and entity = ?", [v.source, v.entity])
        con.execute(
            f"insert into {QUALITY_SCHEMA}.{TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                v.source,
                v.entity,
                v.status,
                v.last_loaded_at,
                v.age_hours,
                v.warn_after,
                v.error_after,
                v.message,
                checked_at,
            ],
        )
