"""`o2c-dbt`: dbt, started so that it dies with the process that started it.

Every dbt process o2c starts (dagster-dbt's `dbt build`, `dbt parse`, `o2c build`) goes through
this small program: it asks Linux to kill it when its parent dies (prctl PR_SET_PDEATHSIG), then
becomes dbt (exec, same process). Without it a killed `o2c run` (kill -9, an OOM kill, a stopped
Dagster run worker) left `dbt build` running on, writing the warehouse that the next run opens.

`o2c-dbt --version` answers from the installed packages instead: dagster-dbt asks it once a run,
and dbt's own answer took 4 CPU-seconds and asked PyPI for the latest release, which an
air-gapped server cannot reach.

With O2C_DBT_WORKING_DIR set (WORKING_DIR below), dbt starts in that folder,
the warehouse's, which the profile then names by its file name alone; the project and profiles
are found as they would have been from where o2c-dbt was started.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from importlib import metadata
from pathlib import Path

PR_SET_PDEATHSIG = 1
# dbt beside this Python, as orchestration.dbt_runner finds it.
DBT = Path(sys.executable).parent / "dbt"
# The adapters o2c's profile names (dbt_project/profiles.yml), listed when installed.
ADAPTERS = ("duckdb", "spark")
# The folder dbt starts in, the warehouse's (set by orchestration.dbt_runner.dbt_environment).
WORKING_DIR = "O2C_DBT_WORKING_DIR"


def die_with_parent() -> None:
    """SIGKILL this process when its parent ends. Linux only; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def installed_versions() -> str:
    """What `dbt --version` says of the installed dbt, in its layout (dagster-dbt reads the
    first version number as dbt-core's)."""
    lines = ["Core:", f"  - installed: {metadata.version('dbt-core')}", "", "Plugins:"]
    for adapter in ADAPTERS:
        try:
            lines.append(f"  - {adapter}: {metadata.version(f'dbt-{adapter}')}")
        except metadata.PackageNotFoundError:
            continue
    return "\n".join(lines)


def start_in(folder: Path) -> None:
    """Move to `folder` (made if missing: DuckDB makes a missing warehouse file, not its folder),
    keeping where dbt finds its project and profiles: the folder it was started in, unless flags
    or DBT_* say otherwise."""
    here = Path.cwd()
    os.environ.setdefault("DBT_PROJECT_DIR", str(here))
    if (here / "profiles.yml").exists():
        os.environ.setdefault("DBT_PROFILES_DIR", str(here))
    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(folder)


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(installed_versions())
        return
    if os.environ.get(WORKING_DIR):
        start_in(Path(os.environ[WORKING_DIR]))
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the request took effect
        sys.exit(1)
    os.execv(DBT, [str(DBT), *sys.argv[1:]])  # the death signal stays set across exec


if __name__ == "__main__":
    main()
