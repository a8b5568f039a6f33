"""Source freshness: dbt's source freshness definition (the sources YAML, as parsed into the
manifest) evaluated on the warehouse without starting dbt, and the table that publishes the
verdicts for the data-health page.

The definition (what is measured, the bounds) lives in dbt's sources YAML only
(dbt_project/models/staging/*/_*__sources.yml). `dbt source freshness` would give the same verdicts
but costs a dbt start and parse (about 30 s) on every build; the rules dbt applies are small
(dbt.artifacts.resources.v1.components.FreshnessThreshold.status) and are repeated in `status`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from core.db import table_exists
from ingestion.warehouse import LOAD_LOG
from quality.results import QUALITY_SCHEMA

# The Dagster check that reports these verdicts (orchestration/defs/sources.py); the publish and
# `o2c run` tell its failures apart: a stale source never stops the publish.
CHECK = "source_freshness"
TABLE = "source_freshness"
# The loaded_at_query of the raw sources: the macro source_loaded_at (macros/source_loaded_at.sql),
# the newest finished_at of the table in its schema's load log. Evaluated here as that query.
LOAD_LOG_QUERY = "{{ source_loaded_at(this) }}"

# dbt's statuses, and the one this project adds for a table this installation does not load.
PASS = "pass"
WARN = "warn"
ERROR = "error"
NOT_CONFIGURED = "not configured"

# dbt's periods (FreshnessThreshold's TimePeriod) in seconds.
PERIOD_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Bound:
    count: int
    period: str  # minute, hour or day

    def seconds(self) -> int:
        return self.count * PERIOD_SECONDS[self.period]

    def __str__(self) -> str:
        return f"{self.count} {self.period}"  # "30 hour", as dbt's criteria say it


@dataclass(frozen=True)
class Rule:
    """One source table's freshness as dbt parsed it."""

    source: str
    entity: str
    schema: str
    identifier: str
    warn_after: Bound | None
    error_after: Bound | None
    loaded_at_field: str | None
    loaded_at_query: str | None
    filter: str | None


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


def _bound(freshness: dict[str, Any], name: str, where: str) -> Bound | None:
    bound = freshness.get(name) or {}
    if bound.get("count") is None or bound.get("period") is None:
        return None  # dbt: a bound without a count or a period is no bound
    if bound["period"] not in PERIOD_SECONDS:
        raise ValueError(f"dbt sources: {where}: freshness {name} period {bound['period']!r} is not minute/hour/day")
    return Bound(int(bound["count"]), bound["period"])


def rules(manifest: dict[str, Any]) -> dict[tuple[str, str], Rule]:
    """Every dbt source table's freshness from the parsed manifest, by (source, table). dbt has
    merged the source's block with the table's and rendered the vars when it parsed."""
    out = {}
    for node in manifest["sources"].values():
        where = f"{node['source_name']}.{node['name']}"
        freshness = node.get("freshness") or {}
        out[(node["source_name"], node["name"])] = Rule(
            source=node["source_name"],
            entity=node["name"],
            schema=node["schema"],
            identifier=node["identifier"],
            warn_after=_bound(freshness, "warn_after", where),
            error_after=_bound(freshness, "error_after", where),
            loaded_at_field=node.get("loaded_at_field"),
            loaded_at_query=node.get("loaded_at_query"),
            filter=freshness.get("filter"),
        )
    return out


def status(age_seconds: float, rule: Rule) -> str:
    """dbt's verdict (FreshnessThreshold.status): error past error_after, else warn past
    warn_after, else pass; strictly past (an age equal to the bound passes)."""
    if rule.error_after is not None and age_seconds > rule.error_after.seconds():
        return ERROR
    if rule.warn_after is not None and age_seconds > rule.warn_after.seconds():
        return WARN
    return PASS


def loaded_at(con: duckdb.DuckDBPyConnection, rules_: list[Rule]) -> dict[tuple[str, str], dt.datetime | None]:
    """When each table was last loaded, as its rule measures it: the load log (one query per
    schema) or the newest loaded_at_field of the table. None when nothing says (never loaded)."""
    out: dict[tuple[str, str], dt.datetime | None] = {}
    by_schema: dict[str, list[Rule]] = {}
    for rule in rules_:
        if rule.loaded_at_query == LOAD_LOG_QUERY and not rule.filter:
            by_schema.setdefault(rule.schema, []).append(rule)
        elif rule.loaded_at_field and not rule.loaded_at_query:
            if not table_exists(con, rule.schema, rule.identifier):
                out[(rule.source, rule.entity)] = None
                continue
            where = f" where {rule.filter}" if rule.filter else ""
            query = f'select max({rule.loaded_at_field}) from "{rule.schema}"."{rule.identifier}"{where}'
            row = con.execute(query).fetchone()
            out[(rule.source, rule.entity)] = row[0] if row else None
        else:
            # Anything else would need dbt's Jinja: say so rather than give another verdict than dbt's.
            raise ValueError(
                f"dbt sources: {rule.source}.{rule.entity}: loaded_at_query {rule.loaded_at_query!r} "
                f"(filter {rule.filter!r}) is not evaluated here; use {LOAD_LOG_QUERY!r} or a loaded_at_field"
            )
    for schema, schema_rules in by_schema.items():
        newest: dict[str, dt.datetime] = {}
        if table_exists(con, schema, LOAD_LOG):
            rows = con.execute(f'select entity, max(finished_at) from "{schema}"."{LOAD_LOG}" group by entity')
            newest = {entity: finished for entity, finished in rows.fetchall() if finished is not None}
        for rule in schema_rules:
            out[(rule.source, rule.entity)] = newest.get(rule.identifier)
    return out


def _naive_utc(stamp: dt.datetime) -> dt.datetime:
    """The warehouse's convention: naive timestamps are UTC (a loaded_at_field may carry a zone)."""
    return stamp.astimezone(dt.UTC).replace(tzinfo=None) if stamp.tzinfo else stamp


def verdicts(
    con: duckdb.DuckDBPyConnection,
    rules_: dict[tuple[str, str], Rule],
    tables: list[tuple[str, str]],
    configured: list[str],
    now: dt.datetime,
) -> list[Verdict]:
    """One verdict per (source, entity) in `tables`, as of `now` (naive UTC): dbt's status, or
    NOT_CONFIGURED when this installation does not load the table (its source is not configured,
    or it was never loaded: a company without that file) or the YAML gives it no bound."""
    measured = [rules_[t] for t in tables if t[0] in configured and t in rules_]
    loaded = loaded_at(con, measured)
    out = []
    for source, entity in tables:
        rule = rules_.get((source, entity))
        if source not in configured:
            out.append(_not_configured(source, entity, f"{source}: source not configured here"))
            continue
        if rule is None:
            raise ValueError(f"dbt sources: {source}.{entity}: no such dbt source table in the manifest")
        if rule.error_after is None and rule.warn_after is None:
            out.append(_not_configured(source, entity, f"{source}.{entity}: no freshness bound in the sources YAML"))
            continue
        last = loaded.get((source, entity))
        if last is None:
            out.append(_not_configured(source, entity, f"{source}.{entity}: never loaded here"))
            continue
        last = _naive_utc(last)
        age_seconds = (now - last).total_seconds()
        verdict = status(age_seconds, rule)
        age = round(age_seconds / 3600, 2)
        warn_after = str(rule.warn_after) if rule.warn_after else None
        error_after = str(rule.error_after) if rule.error_after else None
        message = f"{source}.{entity}: loaded {age} hours ago ({verdict}; error after {error_after})"
        out.append(Verdict(source, entity, verdict, last, age, warn_after, error_after, message))
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
        "check: pass, warn, error, or not configured (not loaded by this installation).'"
    )
    if not found:
        return
    frame = pl.DataFrame(
        [{**v.__dict__, "checked_at": checked_at} for v in found],
        schema={
            "source": pl.String, "entity": pl.String, "status": pl.String, "last_loaded_at": pl.Datetime,
            "age_hours": pl.Float64, "warn_after": pl.String, "error_after": pl.String, "message": pl.String,
            "checked_at": pl.Datetime,
        },
    )  # fmt: skip
    con.register("_verdicts", frame.to_arrow())
    try:
        con.execute(
            f"delete from {QUALITY_SCHEMA}.{TABLE} where (source, entity) in (select (source, entity) from _verdicts)"
        )
        con.execute(f"insert into {QUALITY_SCHEMA}.{TABLE} by name select * from _verdicts")
    finally:
        con.unregister("_verdicts")
