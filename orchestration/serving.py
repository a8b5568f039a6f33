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


def _copy_comments(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    """Table and column descriptions travel with the data, for analysts reading the serving file."""
    for (comment,) in con.execute(
        "select comment from duckdb_tables() where database_name = 'warehouse' and schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchall():
        if comment:
            con.execute(f'comment on table "{schema}"."{table}" is {_quoted(comment)}')
    for column, comment in con.execute(
        "select column_name, comment from duckdb_columns() where database_name = 'warehouse' "
        "and schema_name = ? and table_name = ? and comment is not null",
        [schema, table],
    ).fetchall():
        con.execute(f'comment on column "{schema}"."{table}"."{column}" is {_quoted(comment)}')


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


def publish(warehouse: Path, serving: Path, build_id: str, checks: list[dict[str, object]]) -> Published:
    """Copy the marts of `warehouse` into a new file and swap it over `serving`. Files that earlier
    failed publishes left are removed first (publishes run one at a time, under the warehouse
    lock), then the free disk is checked."""
    serving.parent.mkdir(parents=True, exist_ok=True)
    for path in leftovers(serving):
        path.unlink(missing_ok=True)
    check_free_space(warehouse, serving)
    building = serving.with_name(f".{serving.name}.{build_id}.building")
    con = duckdb.connect(str(building))
    try:
        con.execute("attach ? as warehouse (read_only)", [str(warehouse)])
        tables: dict[str, int] = {}
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f'create schema "{schema}"')
            for (table,) in con.sql(
                "select table_name from information_schema.tables where table_catalog = 'warehouse' "
                f"and table_schema = '{schema}' and table_type = 'BASE TABLE' order by 1"
            ).fetchall():
                con.execute(f'create table "{schema}"."{table}" as select * from warehouse."{schema}"."{table}"')
                _copy_comments(con, schema, table)
                tables[f"{schema}.{table}"] = con.sql(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
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
