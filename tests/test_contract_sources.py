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


def _described(entries: list[dict]) -> dict[str, tuple[str, dict[str, str]]]:
    """{name: (description, {column: description})} of dbt YAML source tables or models, in order."""
    return {
        entry["name"]: (entry["description"], {c["name"]: c["description"] for c in entry["columns"]})
        for entry in entries
    }


def test_forecast_tables_are_dbt_sources_and_models_described_as_in_tables_py() -> None:
    """The tables the Python writes (forecasting/tables.py) are the dbt sources, described in the
    dbt YAML exactly as tables.py describes them, columns in the same order; the dbt models that
    score them (tables.DBT_MODELS) are described in their own YAML only, every column."""
    from forecasting import tables
    from orchestration.defs.forecasting import WRITES

    folder = STAGING.parent / "forecasts"
    (source,) = yaml.safe_load((folder / "_forecasts__sources.yml").read_text())["sources"]
    assert (source["name"], source["schema"]) == ("forecasts", tables.SCHEMA)
    written = tables.TABLES
    assert _described(source["tables"]) == written
    assert list(_described(source["tables"])) == list(written)
    for name, (_, columns) in _described(source["tables"]).items():
        assert list(columns) == list(tables.TABLES[name][1]), name
    models = yaml.safe_load((folder / "_forecasts__models.yml").read_text())["models"]
    assert [model["name"] for model in models] == list(tables.DBT_MODELS)
    assert not set(tables.DBT_MODELS) & set(tables.TABLES)
    for model in models:
        assert model["description"].strip(), model["name"]
        assert model["columns"] and all(c["description"].strip() for c in model["columns"]), model["name"]
    # Each source's asset key is the forecasting asset that writes the table, except
    # forecast_status (written by every step) and the histories, which the scoring models read
    # in the run's dbt step before the forecasting steps (the sources file says why).
    writers = {
        table["name"]: table.get("config", {}).get("meta", {}).get("dagster", {}).get("asset_key")
        for table in source["tables"]
    }
    unnamed = {tables.STATUS_TABLE, "cash_forecast_history", "revenue_forecast_history"}
    assert {name: writers.pop(name) for name in unnamed} == dict.fromkeys(unnamed)
    assert {name: key[1] for name, key in writers.items() if key[0] == "forecasts"} == {
        table: asset for asset, written_by in WRITES.items() for table in written_by if table not in unnamed
    }
