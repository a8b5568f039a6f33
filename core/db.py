"""Generic DuckDB helpers every stage uses: open a file (naming a corrupt one), cap memory, read a query into Polars,
ask whether a table exists."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl


class CorruptDatabase(RuntimeError):
    """A DuckDB file that is not a database (overwritten, truncated by a failing disk): no retry
    helps; `o2c rebuild` moves it aside and rebuilds the warehouse from the sources."""


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The DuckDB file at `path` (made, with its folder, when missing and not read-only); a file
    that is not a database raises CorruptDatabase naming it."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        if "not a valid DuckDB database file" not in str(error):
            raise
        raise CorruptDatabase(
            f"corrupt database file at {path}: `o2c rebuild` moves it aside and rebuilds it from the sources"
        ) from error


# A DuckDB memory size such as 8GB or 512MiB (settings validate with it too).
MEMORY_SIZE = r"\d+(\.\d+)?\s*[KMGT]i?B"


@contextlib.contextmanager
def memory_limited(con: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    """Cap DuckDB's memory (e.g. "8GB") while a heavy step runs; beyond it, it spills to disk.
    The cap belongs to the database, which every connection to the file in this process shares,
    so it is lifted again afterwards."""
    if not re.fullmatch(MEMORY_SIZE, limit):
        raise ValueError(f"DuckDB memory limit {limit!r} is not a size such as 8GB")
    con.execute(f"set memory_limit = '{limit}'")
    try:
        yield
    finally:
        con.execute("reset memory_limit")


def query_frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )
