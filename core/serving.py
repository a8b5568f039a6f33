"""The read side of the serving file: how every reader (dashboards, alerts, benchmarks) opens it.

The writer, orchestration.serving.publish, builds a new file and swaps it in; readers only ever
attach it read-only here, locked down.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

# Readers (dashboards, alerts) may run SQL whose parameters come from users or data: once the
# serving file is attached, they lose any way to reach other files or change settings.
LOCKDOWN = (
    "set enable_external_access = false",
    "set autoload_known_extensions = false",
    "set autoinstall_known_extensions = false",
    "set lock_configuration = true",
)


def open_read_only(serving: Path) -> duckdb.DuckDBPyConnection:
    """The serving file attached read-only (as `serving`, the default catalog) to an in-memory
    database with external access off and the configuration locked.

    Attaching rather than `duckdb.connect(path)`: DuckDB caches instances by path, so connecting
    again after a swap would hand back the old file while any old connection is alive.
    """
    con = duckdb.connect(":memory:")
    con.execute("attach ? as serving (read_only)", [str(serving)])
    con.execute("use serving")
    for statement in LOCKDOWN:
        con.execute(statement)
    return con
