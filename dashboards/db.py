"""Read-only access to the serving file: one cached connection, named SQL files, bound parameters.

The serving file is attached read-only to an in-memory database, then external access and
extension autoloading are switched off and the configuration locked, so no query — whatever a
filter value holds — can read or write a file, attach another database or change a setting.
The connection is keyed by the file's identity: when a pipeline run swaps in a new serving file,
the next query opens the new one, while sessions holding the old connection finish on the old
(unlinked) file.

Who asks decides which connection answers: a collector's queries run on a connection of their
own, where every table is a view of their customers' rows (dashboards/scope.py); every other role
reads the file as it is. Every query of every page goes through `query`, so no page can skip it.
"""

from functools import cache
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.access import Viewer
from core.serving import open_read_only
from dashboards import scope
from dashboards.auth import SESSION_KEY, viewer

QUERIES = Path(__file__).parent / "queries"


class NoServingFile(RuntimeError):
    """The pipeline has not published anything yet."""


# Rows a query returns where a page lists a long table: enough to browse, while the rest of
# 100 k customers stay a filter or a search away (the benchmarks pass the same limits).
ROW_LIMITS = {"customers": 1000, "aging_customers": 200, "unapplied_receipts": 1000}


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


@st.cache_resource(max_entries=32, show_spinner=False)
def _connect_collector(path: str, identity: tuple[int, int, int], collector_id: str) -> duckdb.DuckDBPyConnection:
    # One per collector signed in and serving file: the views hold the collector's id.
    return scope.open_for_collector(Path(path), collector_id)


def connection() -> duckdb.DuckDBPyConnection:
    """A cursor on the serving file as the signed-in user may see it."""
    path = serving_path()
    try:
        identity = _identity(path)
    except FileNotFoundError:
        raise NoServingFile(str(path)) from None
    # Every page runs inside a script run, where the signed-in viewer decides. Outside one (a
    # benchmark, a test calling a query from Python) nobody signs in: the viewer the caller put in
    # the session decides, and with none the query runs unscoped (such a caller reads the files
    # directly anyway).
    if get_script_run_ctx(suppress_warning=True) is not None:
        who: Viewer | None = viewer()
    else:
        found = st.session_state.get(SESSION_KEY)
        who = found if isinstance(found, Viewer) else None
    if who is None or who.sees_all_customers:
        shared = _connect(str(path), identity)
    else:
        shared = _connect_collector(str(path), identity, str(who.collector_id))
    # A cursor per query: the cached connection is shared by every session's thread.
    cursor = shared.cursor()
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


def visible(kind: str, ids: list[str]) -> set[str]:
    """Which of these customer, invoice or payment ids (`kind`) the signed-in user may see: what
    an ops-store list is filtered by, and what a save checks before it writes (a form's choices
    are the user's own, but a request can carry any id)."""
    if kind not in ("customer", "invoice", "payment"):
        raise ValueError(f"not a kind of id: {kind!r}")
    return set(query("visible_ids", {"kind": kind, "ids": [str(i) for i in ids]})["id"].to_list())


def why_not_act(
    customer_ids: tuple[str, ...] = (), invoice_ids: tuple[str, ...] = (), payment_ids: tuple[str, ...] = ()
) -> str | None:
    """Why the signed-in user may not save an action on these customers, invoices and payments
    (None when they may): checked in every save path, whatever the form offered."""
    who = viewer()
    if not who.may_act:
        return f"your role ({who.role}) is read-only"
    for kind, ids in (("customer", customer_ids), ("invoice", invoice_ids), ("payment", payment_ids)):
        wanted = {i for i in ids if i}
        if wanted - visible(kind, list(wanted)):
            # the id itself is not echoed: not found and not yours read the same
            return f"that {kind} is not among those you may act on"
    return None


def allowed(choice: str, options: dict[str, str]) -> str:
    """The SQL identifier for a user's choice among `options` (label → identifier)."""
    if choice not in options:
        raise ValueError(f"not an allowed choice: {choice!r}")
    return options[choice]


def gx_docs_dir() -> Path:
    from core.settings import get_settings

    return get_settings().quality_dir / "gx" / "uncommitted" / "data_docs" / "local_site"
