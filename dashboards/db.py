"""Read-only access to the serving file: one cached connection, named SQL files, bound parameters.

The serving file is attached read-only to an in-memory database, then external access and
extension autoloading are switched off and the configuration locked, so no query — whatever a
filter value holds — can read or write a file, attach another database or change a setting.
The connection is keyed by the file's identity: when a pipeline run swaps in a new serving file,
the next query opens the new one, while sessions holding the old connection finish on the old
(unlinked) file.
"""

from functools import cache
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st

from core.serving import open_read_only

QUERIES = Path(__file__).parent / "queries"


class NoServingFile(RuntimeError):
    """The pipeline has not published anything yet."""


# Rows a query returns where a page lists a long table: enough to browse, while the rest of
# 100 k customers stay a filter or a search away (the benchmarks pass the same limits).
ROW_LIMITS = {"customers": 1000, "aging_customers": 200}


def serving_path() -> Path:
    from core.settings import get_settings

    return get_settings().serving


def _identity(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


@st.cache_resource(max_entries=2, show_spinner=False)
def _connect(path: str, identity: tuple[int, int, int]) -> duckdb.DuckDBPyConnection:
    # `identity` is only the cache key: a swapped file is a new key, so a new connection.
    return open_read_only(Path(path))


def connection() -> duckdb.DuckDBPyConnection:
    path = serving_path()
    try:
        identity = _identity(path)
    except FileNotFoundError:
        raise NoServingFile(str(path)) from None
    # A cursor per query: the cached connection is shared by every session's thread.
    cursor = _connect(str(path), identity).cursor()
    cursor.execute("use serving")
    return cursor


@cache
def sql(name: str) -> str:
    """The text of dashboards/queries/<name>.sql."""
    return (QUERIES / f"{name}.sql").read_text()


def query(name: str, params: dict[str, object] | None = None, **identifiers: str) -> pl.DataFrame:
    """Run a named query with bound parameters.

    `identifiers` fill `{placeholders}` in the SQL (e.g. a sort column); callers pass only values
    from an allow-list (see `allowed`), never user text.
    """
    text = sql(name).format(**identifiers) if identifiers else sql(name)
    cursor = connection()
    try:
        return pl.from_arrow(cursor.sql(text, params=params or {}).to_arrow_table())
    finally:
        cursor.close()


def allowed(choice: str, options: dict[str, str]) -> str:
    """The SQL identifier for a user's choice among `options` (label → identifier)."""
    if choice not in options:
        raise ValueError(f"not an allowed choice: {choice!r}")
    return options[choice]


def gx_docs_dir() -> Path:
    from core.settings import get_settings

    return get_settings().quality_dir / "gx" / "uncommitted" / "data_docs" / "local_site"
