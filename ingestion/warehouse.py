"""Reads and bookkeeping on the DuckDB warehouse around a load.

dlt owns the data tables; this module answers what is already there (watermarks, keys,
unchanged rows, files seen) and keeps the load log and file manifest.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from core.db import query_frame, table_exists
from ingestion.contract import ENTITIES, Entity

LOAD_LOG = "_o2c_load_log"
FILE_MANIFEST = "_o2c_files"
FX_SCHEMA, FX_TABLE = "raw_fx", "fx_rates"  # the FX source's rates, which every amount converts by


def raw_schemas(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select schema_name from information_schema.schemata where schema_name like 'raw\\_%' escape '\\' "
        "and schema_name not like '%\\_staging' escape '\\' order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def loads_with_rows(con: duckdb.DuckDBPyConnection, schema: str, entity: str) -> list[tuple[str, int]]:
    """The entity's loads that wrote rows, newest first: (dlt load id, rows new or updated)."""
    if not table_exists(con, schema, LOAD_LOG):
        return []
    return con.execute(
        f'select dlt_load_id, rows_new + rows_updated from "{schema}".{LOAD_LOG} '
        "where entity = ? and rows_new + rows_updated > 0 and dlt_load_id is not null "
        "order by finished_at desc, dlt_load_id desc",
        [entity],
    ).fetchall()


def fx_currencies(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every currency the FX source's rates name, sorted (none without its table)."""
    if not table_exists(con, FX_SCHEMA, FX_TABLE):
        return []
    table = f'"{FX_SCHEMA}"."{FX_TABLE}"'
    rows = con.execute(f"select from_currency from {table} union select to_currency from {table}").fetchall()
    return sorted(r[0] for r in rows if r[0] is not None)


def watermark(con: duckdb.DuckDBPyConnection, schema: str, entity: Entity) -> dt.datetime | None:
    if not table_exists(con, schema, entity.name):
        return None
    return con.execute(f'select max("{entity.cursor}") from "{schema}"."{entity.name}"').fetchall()[0][0]


def across_raw_schemas(con: duckdb.DuckDBPyConnection, entity: str, columns: str) -> str | None:
    """SQL of `columns` from the entity's table in every raw schema that has one (union all), or
    None if no source provides the entity."""
    parts = [f'select {columns} from "{s}"."{entity}"' for s in raw_schemas(con) if table_exists(con, s, entity)]
    return " union all ".join(parts) if parts else None


def known_keys(con: duckdb.DuckDBPyConnection, entity: str) -> pl.Series:
    """Every key of `entity` in any raw schema (referential checks across sources)."""
    (key,) = ENTITIES[entity].primary_key
    keys = across_raw_schemas(con, entity, f'"{key}" as k')
    if keys is None:
        return pl.Series("k", [], pl.String)
    return query_frame(con, f"select distinct k from ({keys})")["k"]


def changed_rows(
    con: duckdb.DuckDBPyConnection, schema: str, entity: Entity, rows: pl.DataFrame
) -> tuple[pl.DataFrame, int]:
    """The rows that are new or differ from the loaded version, and how many of them update an
    existing key. Dropping the identical ones makes re-reading (look-back, changed files) free
    of effects."""
    if rows.height == 0 or not table_exists(con, schema, entity.name):
        return rows, 0
    keys = " and ".join(f'b."{k}" = t."{k}"' for k in entity.primary_key)
    loaded = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, entity.name],
        ).fetchall()
    }
    compared = [c for c in rows.columns if c != "_source_file"]
    same = " and ".join(
        f'b."{c}" is not distinct from t."{c}"' if c in loaded else f'b."{c}" is null' for c in compared
    )
    table = f'"{schema}"."{entity.name}"'
    con.register("_batch", rows.to_arrow())
    try:
        changed = query_frame(
            con,
            f"select b.*, exists (select 1 from {table} t where {keys}) as _o2c_exists from _batch b "
            f"where not exists (select 1 from {table} t where {keys} and {same})",
        )
    finally:
        con.unregister("_batch")
    updated = int(changed["_o2c_exists"].sum())
    return changed.drop("_o2c_exists").cast(rows.schema), updated


def loaded_files(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, str]:
    if not table_exists(con, schema, FILE_MANIFEST):
        return {}
    return dict(con.execute(f'select file, sha256 from "{schema}"."{FILE_MANIFEST}"').fetchall())


def record_files(con: duckdb.DuckDBPyConnection, schema: str, files: pl.DataFrame) -> None:
    """Remember each file read (path, hash, outcome) so an unchanged file is not read again."""
    con.execute(f'create schema if not exists "{schema}"')
    con.execute(
        f'create table if not exists "{schema}"."{FILE_MANIFEST}" (file varchar primary key, sha256 varchar, '
        "entity varchar, rows_in bigint, rows_quarantined bigint, error varchar, load_id varchar, loaded_at timestamp)"
    )
    if files.height:
        con.register("_files", files.to_arrow())
        con.execute(f'insert or replace into "{schema}"."{FILE_MANIFEST}" select * from _files')
        con.unregister("_files")


def record_load(con: duckdb.DuckDBPyConnection, schema: str, log: pl.DataFrame) -> None:
    con.execute(f'create schema if not exists "{schema}"')
    con.execute(
        f'create table if not exists "{schema}"."{LOAD_LOG}" (load_id varchar, source varchar, entity varchar, '
        "started_at timestamp, finished_at timestamp, rows_in bigint, rows_new bigint, rows_updated bigint, "
        "rows_unchanged bigint, "
        "rows_quarantined bigint, files_read bigint, files_failed bigint, watermark_from timestamp, "
        "watermark_to timestamp, dlt_load_id varchar)"
    )
    if log.height:
        con.register("_log", log.to_arrow())
        con.execute(f'insert into "{schema}"."{LOAD_LOG}" by name select * from _log')
        con.unregister("_log")
