"""`o2c run` parses the dbt project again only when a file dbt parses changed since the manifest."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestration import dbt_runner


def _at(path: Path, seconds: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))
    return path


def test_the_manifest_is_current_until_a_file_it_is_parsed_from_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbt_runner, "DBT_PROJECT", tmp_path)
    monkeypatch.setattr(dbt_runner, "MANIFEST", tmp_path / "target" / "manifest.json")
    assert not dbt_runner.manifest_is_current()  # never parsed
    _at(tmp_path / "models" / "marts" / "fct_x.sql", 100)
    _at(tmp_path / "dbt_project.yml", 100)
    _at(tmp_path / "target" / "manifest.json", 200)
    assert dbt_runner.manifest_is_current()
    # dbt's own output and files dbt does not parse change nothing
    _at(tmp_path / "target" / "run" / "fct_x.sql", 300)
    _at(tmp_path / "logs" / "dbt.log", 300)
    _at(tmp_path / "models" / "notes.txt", 300)
    assert dbt_runner.manifest_is_current()
    for changed in ("models/marts/fct_x.sql", "macros/m.sql", "models/_docs.md", "seeds/s.csv", "dbt_project.yml"):
        _at(tmp_path / changed, 300)
        assert not dbt_runner.manifest_is_current(), changed
        _at(tmp_path / changed, 100)
    assert dbt_runner.manifest_is_current()


def test_o2c_dbt_reports_the_installed_dbt_version_without_starting_dbt() -> None:
    """dagster-dbt asks `o2c-dbt --version` once a run: the answer is dbt-core's version, the one
    dagster-dbt parses, read from the installed packages (dbt's own took 4 CPU-seconds and asked
    PyPI for the latest release)."""
    from dagster_dbt import DbtCliResource
    from dbt.version import __version__ as dbt_core

    result = subprocess.run([str(dbt_runner.DBT_EXECUTABLE), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[:2] == ["Core:", f"  - installed: {dbt_core}"]
    assert "  - duckdb: " in result.stdout
    resource = DbtCliResource(project_dir=str(dbt_runner.DBT_PROJECT), dbt_executable=str(dbt_runner.DBT_EXECUTABLE))
    assert str(resource._cli_version) == dbt_core


def test_the_pipelines_dbt_commands_start_without_building_a_dbt_adapter_first(tmp_path: Path) -> None:
    """dagster-dbt builds a dbt adapter in the pipeline's process before each dbt command, for
    helpers o2c does not call: the pipeline's resource does not (3.7 s of each run), and its
    commands run as before."""
    from orchestration.defs.transform import defs

    resource = defs.resources["dbt"]
    invocation = resource.cli(["--version"], target_path=tmp_path / "target")
    invocation.wait()
    assert invocation.is_successful()
    assert invocation.adapter is None
    assert resource._cli_version.major == 1  # dbt-core: the version whose adapter dagster-dbt would build


def test_spark_finds_the_tables_dbt_reads_on_an_installation_never_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`O2C_ENGINE=spark o2c build` as the first dbt command of a fresh clone: there is no manifest
    to list the sources the lake must hold, so it is parsed (it failed with FileNotFoundError)."""
    monkeypatch.setattr(dbt_runner, "MANIFEST", tmp_path / "target" / "manifest.json")
    monkeypatch.setattr(dbt_runner, "SEMANTIC_MANIFEST", tmp_path / "target" / "semantic_manifest.json")
    monkeypatch.setattr(dbt_runner, "SEED_PARSE", tmp_path / "target" / dbt_runner.PARTIAL_PARSE)
    sources = dbt_runner.lake_sources()
    assert dbt_runner.MANIFEST.exists()
    assert {("raw_erp", "invoices"), ("raw_bank", "payments"), ("forecasts", "cash_forecast_history")} <= sources
    assert {schema for schema, _ in sources} <= {
        "raw_erp",
        "raw_processor",
        "raw_bank",
        "raw_fx",
        "raw_ops",
        "raw_files",
        "forecasts",
    }


def test_each_new_data_directory_starts_dbt_from_the_parse_setup_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt keeps a parse only for the profile it was made with. Named by its full path, the
    warehouse made every data directory's profile different, and each one's first dbt command
    parsed the whole project again. Two new data directories: neither parses it, both open their
    own warehouse, and each keeps the parse for its next command."""
    dbt_runner.prepare_manifest_if_stale()
    assert dbt_runner.SEED_PARSE.exists()
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")  # dbt logs "Partial parsing enabled" at debug
    for name in ("first", "second"):
        data = tmp_path / name
        monkeypatch.setenv("O2C_DATA_DIR", str(data))
        monkeypatch.delenv("O2C_WAREHOUSE_PATH", raising=False)
        result = dbt_runner.run_pipeline_dbt("probe", ["show", "--inline", "select 42 as answer"])
        assert result.returncode == 0, f"dbt show failed in {data}"
        (log,) = (data / "dbt_runs").glob("probe-*/logs/dbt.log")
        text = log.read_text()
        assert "Partial parsing enabled" in text and "Unable to do partial parsing" not in text, name
        assert (data / "warehouse" / "warehouse.duckdb").exists()  # its own, opened where it lies
        assert dbt_runner.parse_cache(data).exists()


def test_dbt_logs_at_info_unless_debug_is_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dbt's log file of an o2c dbt command has each node's start and result, not dbt's debug
    lines (every statement: 7 % of a small build's CPU); DBT_LOG_LEVEL_FILE=debug brings them back."""
    dbt_runner.prepare_manifest_if_stale()
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("O2C_WAREHOUSE_PATH", raising=False)
    monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
    assert dbt_runner.run_pipeline_dbt("info", ["show", "--inline", "select 42 as answer"]).returncode == 0
    (log,) = (tmp_path / "dbt_runs").glob("info-*/logs/dbt.log")
    lines = log.read_text().splitlines()
    assert any("[info ]" in line and "Running with dbt=" in line for line in lines)
    assert not [line for line in lines if "[debug]" in line]


def test_o2c_debug_asks_dbt_for_its_debug_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`o2c --debug <command>` gives the dbt commands it starts the debug level; without it, info."""
    from typer.testing import CliRunner

    from orchestration.cli import app

    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "unset")  # recorded, so that the test's change is undone
    monkeypatch.delenv("DBT_LOG_LEVEL_FILE")
    warehouse = tmp_path / "warehouse" / "warehouse.duckdb"
    CliRunner().invoke(app, ["status"])
    assert dbt_runner.dbt_environment(warehouse)["DBT_LOG_LEVEL_FILE"] == "info"
    CliRunner().invoke(app, ["--debug", "status"])
    assert dbt_runner.dbt_environment(warehouse)["DBT_LOG_LEVEL_FILE"] == "debug"
