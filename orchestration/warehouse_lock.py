"""One writer of the warehouse at a time, across processes: an OS lock on a file beside it.

Every command that writes warehouse.duckdb (`o2c run`, `ingest`, `build`, `forecast`, `backtest`,
`check`, `rebuild`) and every Dagster run of the pipeline (orchestration/defs/executor.py) holds
this lock for its whole duration, so two runs never interleave (run A publishing the marts run B's
dbt rebuilt). It is `fcntl.flock` on `<warehouse>.lock`: the kernel releases it when the holder's
process ends, however it ends (kill -9 included), so there is never a stale lock to remove by hand.
The holder writes who it is into the file (pid, command, since) for the message of whoever waits.

Within one process the lock is re-entrant: `o2c run` takes it before loading the pipeline, and
the run's executor takes it again without waiting for itself.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# How often a waiting process tries again, and tells that it still waits.
POLL_SECONDS = 0.5
REMIND_SECONDS = 30.0


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse for longer than we were allowed to wait."""


_held: set[Path] = set()  # the lock files this process holds
_guard = threading.Lock()


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


def holder(warehouse: Path) -> str:
    """Who holds the lock, as its holder wrote it: 'pid 123 (o2c run) on host since 10:02:03 UTC'."""
    try:
        info = json.loads(lock_path(warehouse).read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"pid {info.get('pid')} ({info.get('command')}) on {info.get('host')} since {info.get('since')}"


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def warehouse_lock(
    warehouse: Path, command: str, wait_seconds: float = 0, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the warehouse's lock while the block runs. Busy: wait up to `wait_seconds`, telling
    `on_wait` who holds it (at once, then every REMIND_SECONDS), then raise WarehouseBusy naming
    the holder."""
    path = lock_path(warehouse)
    with _guard:
        again = path in _held
    if again:  # this process holds it already (the outer block releases it)
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Opened without truncating: the holder's line must survive a waiter's open.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _acquire(fd, warehouse, wait_seconds, on_wait)
        since = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        info = {"pid": os.getpid(), "command": command, "host": socket.gethostname(), "since": since}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        with _guard:
            _held.add(path)
        try:
            yield
        finally:
            with _guard:
                _held.discard(path)
            os.ftruncate(fd, 0)  # nobody holds it; the next holder writes its own line
    finally:
        os.close(fd)  # releases the flock


def _acquire(fd: int, warehouse: Path, wait_seconds: float, on_wait: Callable[[str], None] | None) -> None:
    if _try_lock(fd):
        return
    deadline = time.monotonic() + wait_seconds
    told = 0.0
    while time.monotonic() < deadline:
        if on_wait is not None and time.monotonic() >= told:
            left = deadline - time.monotonic()
            on_wait(
                f"waiting for the warehouse {warehouse}: in use by {holder(warehouse)}; "
                f"giving up in {left:.0f} s (O2C_LOCK_WAIT_SECONDS)"
            )
            told = time.monotonic() + REMIND_SECONDS
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))
        if _try_lock(fd):
            return
    raise WarehouseBusy(
        f"the warehouse {warehouse} is in use by {holder(warehouse)}: one writer at a time; "
        f"run again when it has finished, or set O2C_LOCK_WAIT_SECONDS to wait for it"
    )
