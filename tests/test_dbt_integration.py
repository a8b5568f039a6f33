"""The seeded dbt integration project (dbt_project/integration_tests/, in the style of Fivetran's
integration_tests): a handful of customers, invoices, credit memos and payments as raw-table
seeds, the o2c project built on them, and marts compared with rows worked out by hand (the
arithmetic is in each test's SQL). The same build runs every dbt unit test and data test of the
project, on relations that exist, in about a minute: the dbt half of `make check`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from ingestion.contract import ENTITIES
from orchestration.dbt_runner import DBT_EXECUTABLE

PROJECT = Path(__file__).resolve().parent.parent / "dbt_project" / "integration_tests"
SEEDS = PROJECT / "seeds" / "raw_erp"
WORKED_EXAMPLES = (
    "assert_fct_invoices_worked_example",
    "assert_fct_ar_aging_worked_example",
    "assert_fct_cash_applications_worked_example",
    "assert_fct_ar_kpis_monthly_march_worked_example",
)


def dbt(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        # the caller's O2C_* settings (say, another reporting currency) must not change the world
        **{k: v for k, v in os.environ.items() if not k.startswith("O2C_")},
        "O2C_WAREHOUSE_PATH": str(work / "integration.duckdb"),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [str(DBT_EXECUTABLE), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)]
    result = subprocess.run(command, env=env, cwd=PROJECT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"dbt {' '.join(args)}:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """Seeds loaded first (staging reads whichever raw tables exist when it is built), then
    everything else: {node unique_id: its run result}."""
    work = tmp_path_factory.mktemp("dbt_integration")
    if not (PROJECT / "dbt_packages" / "o2c").exists():
        dbt(work, "deps")  # links the o2c project in as a local package (once per checkout)
    dbt(work, "seed")
    dbt(work, "build", "--exclude", "resource_type:seed")
    run = json.loads((work / "target" / "run_results.json").read_text())
    return {r["unique_id"]: r for r in run["results"]}


def test_seeds_are_raw_tables_in_the_contract_shape() -> None:
    # Each seed is a raw_erp table: a contract entity, its key present, only contract columns
    # (plus dlt's load id, which staging keeps as lineage).
    for path in sorted(SEEDS.glob("*.csv")):
        entity = ENTITIES[path.stem]
        with path.open(newline="") as f:
            header = next(csv.reader(f))
        assert set(entity.primary_key) <= set(header), path.name
        assert set(header) - set(entity.column_names) == {"_dlt_load_id"}, path.name


def test_every_model_unit_test_and_data_test_passes_on_the_seeded_world(results) -> None:
    failed = {uid: r["status"] for uid, r in results.items() if r["status"] not in ("success", "pass")}
    assert failed == {}
    kinds = {uid.split(".")[0] for uid in results}
    assert {"model", "test", "unit_test"} <= kinds
    # the project's own unit tests (aging, countback DSO, cash application ...) all ran here
    assert sum(uid.startswith("unit_test.o2c.") for uid in results) >= 20


@pytest.mark.parametrize("name", WORKED_EXAMPLES)
def test_a_mart_equals_the_rows_worked_out_by_hand(results, name: str) -> None:
    (result,) = [r for uid, r in results.items() if uid == f"test.o2c_integration_tests.{name}"]
    assert (result["status"], result["failures"]) == ("pass", 0), result["message"]
