"""Run dbt on the warehouse the settings point at (the one path both dbt and o2c read)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from core.settings import REPO_ROOT, Settings, get_settings
from orchestration import lake
from orchestration.dbt_guard import WORKING_DIR

DBT_PROJECT = REPO_ROOT / "dbt_project"
MANIFEST = DBT_PROJECT / "target" / "manifest.json"
# What MetricFlow reads (`o2c metrics`): the semantic models and metrics, written by the same parse.
SEMANTIC_MANIFEST = DBT_PROJECT / "target" / "semantic_manifest.json"
# dbt installed beside this Python, whether or not the environment is activated, started through
# `o2c-dbt` (orchestration/dbt_guard.py) so that it dies with the process that started it.
DBT_EXECUTABLE = Path(sys.executable).parent / "o2c-dbt"
# What every build of the pipeline runs (Dagster's dbt step, `o2c build`): the
# models and their data tests. dbt's unit tests check the SQL's logic on fixed inputs, so they run
# where the SQL changes (`make test`, `make check`), not on every load of new data, as dbt's
# documentation advises: they were a third of a small build's time.
BUILD = ["build", "--exclude-resource-type", "unit_test"]
PARTIAL_PARSE = "partial_parse.msgpack"
# The parse `make setup` (prepare_manifest) leaves beside the manifest: where a data directory's
# first dbt command starts from (reusing_parse), made with the profile that DuckDB builds use.
SEED_PARSE = DBT_PROJECT / "target" / PARTIAL_PARSE
# The profile output the manifest is parsed with: DuckDB's, whatever the engine (the definitions
# and the metrics read it against the serving file, which is DuckDB).
MANIFEST_TARGET = "dev"
# Set for dbt only: dbt_project/profiles.yml takes the warehouse as a file name and `o2c-dbt`
# (orchestration/dbt_guard.py) starts dbt in the warehouse's folder. dbt keeps a parse only for
# the profile it was made with, and a profile naming the warehouse by its full path would differ
# for every data directory: each one's first dbt command parsed the whole project again (about
# 7 CPU-s, and the test suite makes some 40 data directories).
WAREHOUSE_FILE = "O2C_DBT_WAREHOUSE_FILE"


def dbt_environment(warehouse: Path) -> dict[str, str]:
    """What dbt's profile and vars read from the settings (also when set in .env, which dbt does
    not read). Built when dbt runs, so a run sees the settings as they are then."""
    settings = get_settings()
    policy = settings.write_off_after_days_past_due
    return {
        "O2C_WAREHOUSE_PATH": str(warehouse),
        WAREHOUSE_FILE: warehouse.name,
        WORKING_DIR: str(warehouse.absolute().parent),
        "O2C_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        # the var write_off_after_days_past_due
        "O2C_WRITE_OFF_AFTER_DAYS_PAST_DUE": "" if policy is None else str(policy),
        **freshness_environment(settings.source_freshness_hours),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # dbt's log file at info (every node's start, result and error), not debug (every statement
        # and adapter call besides): writing the debug lines was 7 % of a small build's CPU.
        # DBT_LOG_LEVEL_FILE=debug in the environment brings them back (docs/operations.md).
        "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE", "info"),
        # As lines of text, also under Dagster: dagster-dbt asks dbt for JSON (DBT_LOG_FORMAT), which
        # it reads from dbt's output, and dbt would write the file as JSON too, each line built and
        # scrubbed of secrets a second time (about 1.4 CPU-s of a small run's 36).
        "DBT_LOG_FORMAT_FILE": "debug",
        **(spark_environment(settings) if settings.engine == "spark" else {}),
    }


def spark_environment(settings: Settings) -> dict[str, str]:
    """What the profile's Spark outputs and the lake's registration (macros/lake.sql) read."""
    return {
        "O2C_SPARK_MASTER": settings.spark_master,
        "O2C_SPARK_DIR": str(settings.spark_dir.absolute()),
        "O2C_SPARK_HOST": settings.spark_host or "",
        "O2C_SPARK_PORT": str(settings.spark_port),
        "O2C_LAKE_DIR": str(settings.lake.absolute()),
        "O2C_LAKE_TABLES": ",".join(lake.lake_tables(settings.lake)),
    }


@contextmanager
def on_engine(settings: Settings, target: Path) -> Iterator[None]:
    """Around a dbt command that writes its artifacts to `target`: on Spark, the tables dbt reads
    go to the lake first, and the published tables it built come back into the warehouse after
    (orchestration/lake.py), also when it failed half-way, as DuckDB keeps what it built. On
    DuckDB, nothing: dbt builds in the warehouse itself."""
    if settings.engine != "spark":
        yield
        return
    lake.export_to_lake(settings.warehouse, settings.lake, lake_sources())
    try:
        yield
    finally:
        lake.bring_back(settings, target)


def lake_sources() -> set[tuple[str, str]]:
    """The tables the dbt project reads, which Spark reads from the lake: from the manifest, parsed
    first when it is missing or stale (`O2C_ENGINE=spark o2c build` may be the first dbt command
    of an installation, and a new source must reach the lake)."""
    return lake.dbt_sources(json.loads(prepare_manifest_if_stale().read_text()))


# The var source_freshness_hours (every source's error_after) defaults to this variable.
FRESHNESS_VARIABLE = "O2C_SOURCE_FRESHNESS_HOURS"


def freshness_environment(hours: int) -> dict[str, str]:
    """The var source_freshness_hours, which dbt renders into the sources' freshness when it
    parses; the same value under DBT_ENV_CUSTOM_ENV_, which dbt writes into the manifest's
    metadata.env, so a reader of the manifest knows which bound its freshness was parsed with."""
    return {FRESHNESS_VARIABLE: str(hours), f"DBT_ENV_CUSTOM_ENV_{FRESHNESS_VARIABLE}": str(hours)}


def parsed_freshness_hours(manifest: dict[str, Any]) -> str | None:
    """The O2C_SOURCE_FRESHNESS_HOURS a manifest was parsed with (None: parsed without it)."""
    return manifest["metadata"].get("env", {}).get(FRESHNESS_VARIABLE)


def dbt_command(args: list[str], warehouse: Path, work_dir: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """The dbt command line and environment; `work_dir` keeps target/ and logs/ apart per run."""
    command = [str(DBT_EXECUTABLE), *args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT)]
    if "--target" not in args:
        command += ["--target", get_settings().dbt_target]
    env = {**os.environ, **dbt_environment(warehouse)}
    if work_dir is not None:
        env |= {"DBT_TARGET_PATH": str(work_dir / "target"), "DBT_LOG_PATH": str(work_dir / "logs")}
    return command, env


def run_dbt(
    args: list[str], warehouse: Path, work_dir: Path | None = None, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    command, env = dbt_command(args, warehouse, work_dir)
    return subprocess.run(command, env=env, text=True, capture_output=capture, check=False)


def parse_cache(data_dir: Path) -> Path:
    """Where a data directory keeps the parse of its last dbt command (see reusing_parse)."""
    return data_dir.absolute() / "dbt_parse" / PARTIAL_PARSE


@contextmanager
def reusing_parse(data_dir: Path, target: Path) -> Iterator[None]:
    """Start a dbt command writing to `target` from this data directory's last parse (the first
    from the parse `make setup` left, SEED_PARSE), and keep the parse it leaves. dbt checks the
    profile, vars and every file's hash against the parse it starts from: one made with other
    settings (another engine, say) or before a model changed only costs a parse (8-10 s)."""
    cache = parse_cache(data_dir)
    target.mkdir(parents=True, exist_ok=True)
    start = cache if cache.exists() else SEED_PARSE
    with suppress(FileNotFoundError):  # no parse to start from: dbt parses the project
        shutil.copyfile(start, target / PARTIAL_PARSE)
    try:
        yield
    finally:
        left = target / PARTIAL_PARSE
        if left.exists():
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_name(f".{PARTIAL_PARSE}.{os.getpid()}")
            shutil.copyfile(left, partial)
            os.replace(partial, cache)  # whole or not at all, should the process be killed


def run_pipeline_dbt(name: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """A dbt command of an `o2c` command on the configured warehouse: its output in the data
    directory's run_output_dir (removed by the next run), from the directory's last parse."""
    settings = get_settings()
    work = run_output_dir(settings.data_dir) / f"{name}-{os.getpid()}"
    with reusing_parse(settings.data_dir, work / "target"), on_engine(settings, work / "target"):
        return run_dbt(args, settings.warehouse, work)


# The files dbt parses the manifest from (the Makefile's manifest rule watches the .sql and .yml ones).
PROJECT_SUFFIXES = (".sql", ".yml", ".yaml", ".md", ".csv")
NOT_PROJECT_FOLDERS = {"target", "logs", "dbt_packages"}


def manifest_is_current() -> bool:
    """Whether dbt_project/target/manifest.json is newer than every file it is parsed from."""
    if not MANIFEST.exists():
        return False
    parsed = MANIFEST.stat().st_mtime_ns
    for folder, subfolders, files in os.walk(DBT_PROJECT):
        subfolders[:] = [s for s in subfolders if s not in NOT_PROJECT_FOLDERS]  # not walked into
        for name in files:
            if name.endswith(PROJECT_SUFFIXES) and os.stat(os.path.join(folder, name)).st_mtime_ns > parsed:
                return False
    return True


def prepare_manifest_if_stale() -> Path:
    """The manifest, parsed again only when a model, macro, YAML or seed file changed since: a
    parse is a dbt process of its own (8 s here), which every `o2c run` paid."""
    return MANIFEST if manifest_is_current() else prepare_manifest()


def prepare_manifest() -> Path:
    """Parse the dbt project into dbt_project/target/manifest.json, which the Dagster
    definitions load."""
    parse_manifest()
    return MANIFEST


def parse_manifest() -> dict[str, Any]:
    """Parse the dbt project into dbt_project/target/manifest.json and return what was parsed
    (another process may replace the file right after). Parsed beside it and moved in, so
    concurrent parses never leave a half-written manifest. Opens no warehouse. Of the settings,
    the freshness bound is rendered into the sources' freshness (the freshness check reads it from
    the manifest; everything else dbt re-reads when it builds); all that the profile and vars read
    are given as a DuckDB build gives them, so that the parse left beside the manifest (SEED_PARSE)
    is one a build can start from."""
    MANIFEST.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=MANIFEST.parent, prefix=".parse-") as work:
        command = [
            str(DBT_EXECUTABLE), "parse", "--target", MANIFEST_TARGET,
            "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
        ]  # fmt: skip
        env = {
            **os.environ,
            **dbt_environment(get_settings().warehouse),
            "DBT_TARGET_PATH": str(Path(work) / "target"),
            "DBT_LOG_PATH": str(Path(work) / "logs"),
        }
        env.pop(WORKING_DIR)  # a parse opens no warehouse: no folder to start in
        result = subprocess.run(command, env=env, text=True, capture_output=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{result.stdout[-3000:]}")
        parsed = Path(work) / "target" / "manifest.json"
        manifest: dict[str, Any] = json.loads(parsed.read_text())
        os.replace(Path(work) / "target" / "semantic_manifest.json", SEMANTIC_MANIFEST)
        os.replace(Path(work) / "target" / PARTIAL_PARSE, SEED_PARSE)
        os.replace(parsed, MANIFEST)
    return manifest


def run_output_dir(data_dir: Path) -> Path:
    """Where the pipeline's dbt steps write their output (compiled SQL, run_results.json, dbt's
    log: about 10 MB a run), one folder per invocation: under the data directory, whose warehouse
    lock the run holds, so cleaning it never touches another installation's running dbt."""
    return data_dir.absolute() / "dbt_runs"


# What dbt_project/target/ keeps: the parsed project that the Dagster definitions, the metrics
# and `make docs` read. Anything else there is older runs' output (dagster-dbt's per-invocation
# folders before they moved to run_output_dir, `o2c build`'s compiled/ and run/) or a killed
# parse's .parse-* folder; it is removed once it is older than this, as another installation
# sharing the project (or a parse in progress) may still be writing a young one.
TARGET_KEEPS = frozenset({"manifest.json", "semantic_manifest.json", PARTIAL_PARSE})
LEFTOVER_SECONDS = 3600


def clean_run_output(data_dir: Path) -> list[Path]:
    """Remove what earlier runs' dbt left: all of run_output_dir (call it holding the warehouse
    lock) and old leftovers in dbt_project/target/; the removed paths."""
    removed = []
    output = run_output_dir(data_dir)
    if output.is_dir():
        removed += list(output.iterdir())
        shutil.rmtree(output, ignore_errors=True)
    if MANIFEST.parent.is_dir():
        for path in MANIFEST.parent.iterdir():
            if path.name in TARGET_KEEPS or time.time() - path.lstat().st_mtime < LEFTOVER_SECONDS:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


if __name__ == "__main__":
    # `make setup`: the manifest the Dagster definitions load, ready before anything imports them.
    print(f"dbt manifest: {prepare_manifest()}")
