"""The `o2c` command line: help everywhere, and simulate → ingest → status on real files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from orchestration.cli import app

runner = CliRunner()
COMMANDS = ["simulate", "ingest", "build", "run", "rebuild", "check", "ui", "status", "contract", "doctor"]


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    if not command:
        for name in COMMANDS:
            assert name in result.output


def _expectations(output: str) -> int:
    """N of the check command's closing "N expectations: ..." line."""
    return int(output.split(" expectations:")[0].split()[-1])


def test_simulate_ingest_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("orchestration.cli.console", Console(width=250))  # one line per table row
    result = runner.invoke(app, ["simulate", "--customers", "40", "--days", "60", "--end-date", "2026-05-31"])
    assert result.exit_code == 0, result.output
    assert "as of 2026-05-31" in result.output
    assert (tmp_path / "sources" / "erp.sqlite").exists()

    result = runner.invoke(app, ["ingest"])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "warehouse" / "warehouse.duckdb") in result.output.replace("\n", "")
    invoices_row = next(line for line in result.output.splitlines() if " invoices " in line)
    rows_in, loaded = [int(n.replace(",", "")) for n in re.findall(r"[\d,]+", invoices_row)[:2]]
    assert rows_in == loaded > 0

    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "raw_erp" in result.output and "invoices" in result.output and "Last load per source" in result.output

    result = runner.invoke(app, ["check"])  # no marts built by `ingest` alone: the raw suites
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output and "Data docs:" in result.output
    assert _expectations(result.output) > 50

    result = runner.invoke(app, ["check", "--marts-only"])  # the raw suites are not run again
    assert result.exit_code == 0, result.output
    assert _expectations(result.output) == 0  # and no marts are built yet

    result = runner.invoke(app, ["simulate", "--advance", "2"])
    assert result.exit_code == 0, result.output
    assert "2026-06-02" in result.output


def test_unknown_source_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["ingest", "--source", "sap"])
    assert result.exit_code == 2
    assert "unknown source" in result.output and "erp" in result.output
