"""`o2c rebuild`: recovery from a corrupt (or lost) warehouse, in one command.

The warehouse is derived from the sources: everything in it can be loaded and built again,
except the history only it kept (see docs/operations.md, "A corrupt warehouse"). The old file is
moved aside, never deleted, for a forensic look or to copy history out of; dlt's local state goes
aside with it, as it describes the old file (which tables exist, which loads are pending), and a
new warehouse must be loaded from nothing. The serving file is left alone: readers keep the last
good build until the rebuilt one is published over it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from core.settings import Settings


def aside_name(path: Path, stamp: str) -> Path:
    return path.with_name(f"{path.name}.before-rebuild-{stamp}")


def move_aside(settings: Settings, now: dt.datetime | None = None) -> list[tuple[Path, Path]]:
    """Rename the warehouse (and its WAL) and dlt's folder to `<name>.before-rebuild-<UTC time>`;
    what was moved where. Call it holding the warehouse lock."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    warehouse = settings.warehouse
    moved = []
    for path in (warehouse, warehouse.with_name(warehouse.name + ".wal"), settings.dlt_dir):
        if path.exists():
            kept = aside_name(path, stamp)
            os.replace(path, kept)
            moved.append((path, kept))
    return moved
