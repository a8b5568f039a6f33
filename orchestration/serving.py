"""Publishing: the marts copied into a new serving file that replaces the old one atomically.

Readers (dashboards, analysts) only ever open the serving file, read-only (core.serving.open_read_only).
It is built beside the old one and swapped in with os.replace, so a reader sees the previous build
or the new one, never half of one, and a failed or killed run leaves the last good file in place.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

# The marts, the forecasts, and the data-quality history the data-health page shows.
PUBLISHED_SCHEMAS = ("marts", "forecasts", "quality")


@dataclass(frozen=True)
class Published:
    path: Path
    build_id: str
    tables: dict[str, int]  # rows per published table


def _source_watermarks(con: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    """The newest `updated_at` loaded per raw source and entity, from the load logs."""
    logs = con.sql(
        "select table_schema from information_schema.tables "
        "where table_catalog = 'warehouse' and table_name = '_o2c_load_log'"
    ).fetchall()
    rows: list[dict[str, object]] = []
    for (schema,) in logs:
        for source, entity, watermark, loaded_at in con.sql(
            f'select source, entity, max(watermark_to), max(finished_at) from warehouse."{schema}"._o2c_load_log '
            "group by all order by all"
        ).fetchall():
            rows.append({"source": source, "entity": entity, "watermark": str(watermark), "loaded_at": str(loaded_at)})
    return rows


def _quarantine_summary(con: duckdb.DuckDBPyConnection) -> int:
    """Rows held back by ingestion per source, entity, column and reason (the raw quarantine
    tables stay in the warehouse; the data-health page needs only their counts)."""
    schemas = [
        r[0]
        for r in con.sql(
            "select table_schema from information_schema.tables where table_catalog = 'warehouse' "
            "and table_name = 'quarantine' and table_schema like 'raw\\_%' escape '\\' order by 1"
        ).fetchall()
    ]
    parts = [
        f'select source, entity, column_name, reason, quarantined_at from warehouse."{schema}".quarantine'
        for schema in schemas
    ] or [
        "select null::varchar as source, null::varchar as entity, null::varchar as column_name, "
        "null::varchar as reason, null::timestamp as quarantined_at where false"
    ]
    con.execute(
        "create table quality.quarantine_summary as select source, entity, column_name, reason, "
        "count(*) as n_rows, max(quarantined_at) as last_quarantined_at "
        f"from ({' union all '.join(parts)}) group by all order by n_rows desc"
    )
    con.execute(
        "comment on table quality.quarantine_summary is "
        "'Rows quarantined by ingestion, counted by source, entity, column and reason.'"
    )
    return con.sql("select count(*) from quality.quarantine_summary").fetchall()[0][0]


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _comment_statements(con: duckdb.DuckDBPyConnection, published: list[tuple[str, str]]) -> list[str]:
    """Table and column descriptions travel with the data, for analysts reading the serving file:
    every published table's, read from the warehouse's catalog in one query."""
    wanted = set(published)
    found = con.execute(
        "select schema_name, table_name, null, comment from duckdb_tables() "
        "where database_name = 'warehouse' and comment <> '' "
        "union all select schema_name, table_name, column_name, comment from duckdb_columns() "
        "where database_name = 'warehouse' and comment is not null"
    ).fetchall()
    return [
        f'comment on table "{schema}"."{table}" is {_quoted(comment)}'
        if column is None
        else f'comment on column "{schema}"."{table}"."{column}" is {_quoted(comment)}'
        for schema, table, column, comment in found
        if (schema, table) in wanted
    ]


def _copy_comments(con: duckdb.DuckDBPyConnection, published: list[tuple[str, str]]) -> None:
    # One transaction: each statement alone would be a commit of its own (about 730 of them at
    # scale l).
    statements = _comment_statements(con, published)
    con.execute("begin transaction")
    for statement in statements:
        con.execute(statement)
    con.execute("commit")


class NoSpace(RuntimeError):
    """Not enough free disk to build the new serving file beside the old one."""


# The new file is built beside the old one, which stays served until the swap: it needs as much
# again as the last one took (or the warehouse, before a first publish), with a margin for growth.
SPACE_MARGIN = 1.25
SPACE_FLOOR_BYTES = 64 * 1024**2


def needed_bytes(warehouse: Path, serving: Path) -> int:
    basis = serving.stat().st_size if serving.exists() else warehouse.stat().st_size
    return int(basis * SPACE_MARGIN) + SPACE_FLOOR_BYTES


def leftovers(serving: Path) -> list[Path]:
    """Files of publishes that failed or were killed: `.serving.duckdb.<build>.building` (and
    its .wal)."""
    return sorted(serving.parent.glob(f".{serving.name}.*.building*"))


def check_free_space(warehouse: Path, serving: Path) -> None:
    needed = needed_bytes(warehouse, serving)
    free = shutil.disk_usage(serving.parent).free
    if free < needed:
        raise NoSpace(
            f"not enough free disk to publish {serving}: needs {needed:,} bytes, {free:,} free "
            f"under {serving.parent}; the previous serving file stays"
        )


def replaced_by_key(manifest: Path) -> dict[str, str]:
    """The published tables a dbt run replaces part of (its incremental models), by the key it
    replaces them by, from dbt's manifest: publish takes only their changed keys."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return {
        f"{node['schema']}.{node.get('alias') or node['name']}": node["config"]["unique_key"]
        for node in nodes
        if node["resource_type"] == "model"
        and node["schema"] in PUBLISHED_SCHEMAS
        and node["config"].get("materialized") == "incremental"
        and isinstance(node["config"].get("unique_key"), str)
    }


# A table a run replaced more of than this is copied whole: deleting and inserting most of it
# costs more than copying it, and leaves the file more to reuse.
MAX_CHANGED_SHARE = 0.5


def _start_from(serving: Path, building: Path) -> duckdb.DuckDBPyConnection | None:
    """The new file as a copy of the last serving file, when there is one that opens (one that
    does not is not worth keeping rows from: the new file then starts empty)."""
    if not serving.exists():
        return None
    shutil.copyfile(serving, building)
    try:
        return duckdb.connect(str(building))
    except duckdb.Error:
        building.unlink()
        return None


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    """The published schemas' tables in `catalog`, as (schema, table)."""
    schemas = ", ".join(_quoted(schema) for schema in PUBLISHED_SCHEMAS)
    return con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ? "
        f"and schema_name in ({schemas}) order by all",
        [catalog],
    ).fetchall()


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = ? and schema_name = ? "
        "and table_name = ? order by column_index",
        [catalog, schema, table],
    ).fetchall()


def _same_columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> bool:
    """Whether the copy's table has the warehouse's columns (none if the warehouse no longer has
    it), `built_at` among them."""
    columns = _columns(con, catalog, schema, table)
    return ("built_at", "TIMESTAMP") in columns and columns == _columns(con, "warehouse", schema, table)


def _replace_changed_keys(con: duckdb.DuckDBPyConnection, schema: str, table: str, key: str) -> bool:
    """Bring the last serving file's copy of a table a run replaces part of (its rows keep
    `built_at`) up to the warehouse's: the rows of every `key` the warehouse wrote since that file's
    rows were built, or no longer has, are replaced by the warehouse's. False, and the copy left to
    be replaced whole, where that is not the cheaper or the safe way: most of the table changed (a
    full refresh), or the warehouse holds nothing as new as what was published (one restored from
    before it)."""
    copy, source = f'"{schema}"."{table}"', f'warehouse."{schema}"."{table}"'
    published_at = con.execute(f"select max(built_at) from {copy}").fetchone()[0]
    built_at, rows, changed = con.execute(
        f"select max(built_at), count(*), count(*) filter (where built_at > ?) from {source}", [published_at]
    ).fetchone()
    if published_at is None or built_at is None or built_at < published_at or changed > rows * MAX_CHANGED_SHARE:
        return False
    con.execute(
        f'create or replace temp table changed_keys as select distinct "{key}" from {source} where built_at > ?',
        [published_at],
    )
    con.execute(f'delete from {copy} where "{key}" in (select "{key}" from changed_keys)')
    con.execute(f'insert into {copy} select * from {source} where "{key}" in (select "{key}" from changed_keys)')
    con.execute("drop table changed_keys")
    # Every other key's rows are the warehouse's already, so more rows than it has are those of
    # keys it no longer has (yesterday's as-of date, an invoice gone from the source): found only
    # then, since comparing every key of both costs more than the rest (3 s a day at scale l).
    if con.execute(f"select count(*) from {copy}").fetchone()[0] != rows:
        con.execute(
            f'delete from {copy} where "{key}" in (select "{key}" from {copy} except select "{key}" from {source})'
        )
    return con.execute(f"select count(*) from {copy}").fetchone()[0] == rows


def publish(
    warehouse: Path,
    serving: Path,
    build_id: str,
    checks: list[dict[str, object]],
    replaced_by_key: dict[str, str] | None = None,
) -> Published:
    """Copy the marts of `warehouse` into a new file and swap it over `serving`. Files that earlier
    failed publishes left are removed first (publishes run one at a time, under the warehouse
    lock), then the free disk is checked.

    `replaced_by_key` names the published tables a run replaces part of, by the key it replaces
    them by (dbt's incremental models, whose rows keep `built_at`: {"marts.fct_ar_aging":
    "as_of_date"}). The new file then starts as a copy of the last one, and takes of those tables
    only the keys written since (_replace_changed_keys); every other table is copied whole."""
    serving.parent.mkdir(parents=True, exist_ok=True)
    for path in leftovers(serving):
        path.unlink(missing_ok=True)
    check_free_space(warehouse, serving)
    building = serving.with_name(f".{serving.name}.{build_id}.building")
    con = (_start_from(serving, building) if replaced_by_key else None) or duckdb.connect(str(building))
    try:
        con.execute("attach ? as warehouse (read_only)", [str(warehouse)])
        here = con.execute("select current_database()").fetchone()[0]
        published = _tables(con, "warehouse")
        copied = _tables(con, here)  # what the last serving file held (nothing when starting empty)
        kept = [
            (schema, table)
            for schema, table in copied
            if f"{schema}.{table}" in (replaced_by_key or {}) and _same_columns(con, here, schema, table)
        ]
        # What the copy holds besides goes first, so that the new copies reuse its space.
        for schema, table in copied:
            if (schema, table) not in kept:
                con.execute(f'drop table "{schema}"."{table}"')
        con.execute("drop table if exists _meta")
        con.execute("checkpoint")
        tables: dict[str, int] = {}
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f'create schema if not exists "{schema}"')
        for schema, table in published:
            if (schema, table) not in kept or not _replace_changed_keys(
                con, schema, table, replaced_by_key[f"{schema}.{table}"]
            ):
                con.execute(f'drop table if exists "{schema}"."{table}"')
                con.execute(f'create table "{schema}"."{table}" as select * from warehouse."{schema}"."{table}"')
            tables[f"{schema}.{table}"] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
        _copy_comments(con, published)
        tables["quality.quarantine_summary"] = _quarantine_summary(con)
        watermarks = _source_watermarks(con)
        con.execute("detach warehouse")
        con.execute(
            "create table _meta as select ? as build_id, ?::timestamp as built_at, ?::json as source_watermarks, "
            "?::json as check_results, ?::json as tables",
            [
                build_id,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                json.dumps(watermarks),
                json.dumps(checks),
                json.dumps(tables),
            ],
        )
        con.execute("checkpoint")
    except BaseException:
        con.close()
        for path in (building, building.with_name(building.name + ".wal")):
            path.unlink(missing_ok=True)  # a disk that filled up gets its space back at once
        raise
    con.close()
    # Readers opening the path now get the new file; open connections keep the old one.
    os.replace(building, serving)
    return Published(serving, build_id, tables)
