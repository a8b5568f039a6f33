"""The dbt sources declare exactly the raw tables and columns of the source contract
(ingestion/contract.py), so a contract change that dbt does not follow, or the other way round,
fails here rather than as empty columns in the marts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ingestion.contract import ENTITIES, ERP_ENTITIES

STAGING = Path(__file__).resolve().parent.parent / "dbt_project" / "models" / "staging"


def raw_sources() -> dict[str, dict[str, list[str]]]:
    """Every dbt source that reads a raw schema: {source: {table: [declared column names]}}."""
    found: dict[str, dict[str, list[str]]] = {}
    for path in sorted(STAGING.glob("*/_*__sources.yml")):
        for source in yaml.safe_load(path.read_text())["sources"]:
            if not source["schema"].startswith("raw_"):
                continue  # not landed by a connector (e.g. forecasting outputs)
            assert source["name"] not in found, f"{path}: source {source['name']} declared twice"
            found[source["name"]] = {
                table["name"]: [column["name"] for column in table.get("columns", [])] for table in source["tables"]
            }
    return found


SOURCES = raw_sources()


def test_each_raw_source_reads_its_own_raw_schema() -> None:
    # A connector lands source X into raw_X (ingestion/pipeline.py); a source pointing elsewhere
    # would read another connector's tables.
    for path in sorted(STAGING.glob("*/_*__sources.yml")):
        for source in yaml.safe_load(path.read_text())["sources"]:
            if source["schema"].startswith("raw_"):
                assert source["schema"] == f"raw_{source['name']}", f"{path}: {source['name']}"


@pytest.mark.parametrize(
    ("source", "table"), [(source, table) for source, tables in SOURCES.items() for table in tables]
)
def test_every_declared_table_is_a_contract_entity_with_its_columns_in_order(source: str, table: str) -> None:
    assert table in ENTITIES, f"source {source}: table {table} is not a contract entity"
    declared = SOURCES[source][table]
    contract = ENTITIES[table].column_names
    assert declared == contract, (
        f"source {source}, table {table}: only in dbt {sorted(set(declared) - set(contract))}, "
        f"only in the contract {sorted(set(contract) - set(declared))}"
        + ("" if set(declared) != set(contract) else ", same names in another order")
    )


def test_every_contract_entity_is_a_source_table() -> None:
    # The file connector (bring your own data) lands every entity; the ERP connector its own list.
    assert list(SOURCES["files"]) == list(ENTITIES)
    assert list(SOURCES["erp"]) == list(ERP_ENTITIES)
    declared = {table for tables in SOURCES.values() for table in tables}
    assert declared == set(ENTITIES)
