"""Data quality with Great Expectations: a suite per raw entity, run on each load's rows.

The source contract (conform.py) already quarantines rows that are wrong on their own. These
suites check what a row cannot tell alone: keys unique across the table, dates in order,
currencies the FX table knows, references across sources, and loads whose size is out of line
with recent ones. Severity `error` blocks the publish; `warn` is recorded and shown.

Validation runs through GX's pandas route on the rows of the latest load: GX 1.24's SQL
datasource cannot run against DuckDB here (every expectation fails with a connection or
`list index out of range` error), see docs/decisions.md.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import polars as pl
from great_expectations.data_context.types.base import ProgressBarsConfig

from ingestion import warehouse
from ingestion.contract import ENTITIES, Entity

QUALITY_SCHEMA = "quality"
RESULTS_TABLE = "dq_results"
ERROR, WARN = "error", "warn"
SAMPLE_SIZE = 5
LINEAGE_COLUMNS = ("_source_file", "_dlt_load_id")

# Extra rules per entity that need more than one column of a row.
DATE_ORDER: dict[str, list[tuple[str, str]]] = {
    "invoices": [("due_date", "invoice_date")],
    "disputes": [("resolved_date", "opened_date")],
    "payment_applications": [],
}


@dataclass(frozen=True)
class CheckResult:
    suite: str
    source: str
    entity: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    rows_checked: int
    unexpected_count: int
    sample: list[str]

    @property
    def message(self) -> str:
        where = f"{self.source}.{self.entity}" + (f".{self.column}" if self.column else "")
        if self.success:
            return f"{where}: {self.expectation} passed"
        return (
            f"{where}: {self.expectation} failed for {self.unexpected_count} of {self.rows_checked} rows "
            f"(e.g. {', '.join(self.sample) or 'n/a'})"
        )


def suite_for(
    entity: Entity, *, currencies: list[str], parent_keys: dict[str, pl.Series], recent_rows: list[int]
) -> gx.ExpectationSuite:
    """The expectations for one entity's rows."""
    suite = gx.ExpectationSuite(name=f"raw_{entity.name}")
    add = suite.add_expectation
    for column in entity.columns:
        add(gxe.ExpectColumnToExist(column=column.name, meta={"severity": ERROR}))
    # Columns beyond the contract are kept but reported (schema drift).
    add(
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*entity.column_names, *LINEAGE_COLUMNS], exact_match=True, meta={"severity": WARN}
        )
    )
    if len(entity.primary_key) == 1:
        add(gxe.ExpectColumnValuesToBeUnique(column=entity.primary_key[0], meta={"severity": ERROR}))
    else:
        add(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(entity.primary_key), meta={"severity": ERROR}))
    for column in entity.columns:
        if column.required or column.name in entity.primary_key:
            add(gxe.ExpectColumnValuesToNotBeNull(column=column.name, meta={"severity": ERROR}))
    for rule in entity.rules:
        if rule.check == "positive":
            add(
                gxe.ExpectColumnValuesToBeBetween(
                    column=rule.column, min_value=0, strict_min=True, meta={"severity": ERROR}
                )
            )
        elif rule.check == "non_negative":
            add(gxe.ExpectColumnValuesToBeBetween(column=rule.column, min_value=0, meta={"severity": ERROR}))
        elif rule.check == "currency" and currencies:
            # Known to the FX table: without a rate no amount can be reported.
            add(gxe.ExpectColumnValuesToBeInSet(column=rule.column, value_set=currencies, meta={"severity": ERROR}))
        elif rule.check == "one_of":
            add(
                gxe.ExpectColumnValuesToBeInSet(
                    column=rule.column, value_set=list(rule.allowed), meta={"severity": ERROR}
                )
            )
    for later, earlier in DATE_ORDER.get(entity.name, []):
        add(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=later,
                column_B=earlier,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta={"severity": ERROR},
            )
        )
    for column, parent in entity.references:
        keys = parent_keys.get(parent)
        if keys is not None and keys.len():
            # Nulls are not checked: a bank payment's unknown payer is resolved later, not an error.
            add(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=keys.to_list(), meta={"severity": ERROR}))
    if len(recent_rows) >= 3:
        typical = sorted(recent_rows)[len(recent_rows) // 2]
        add(gxe.ExpectTableRowCountToBeBetween(min_value=0, max_value=max(10 * typical, 1000), meta={"severity": WARN}))
    return suite


def _readable(value: object) -> str:
    """An unexpected value as a person would write it (pairs as 'a vs b', dates ISO)."""
    if isinstance(value, list | tuple):
        return " vs ".join(_readable(v) for v in value)
    if isinstance(value, dict):
        return " vs ".join(_readable(v) for v in value.values())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _results(suite: gx.ExpectationSuite, result, source: str, entity: str, rows: int) -> list[CheckResult]:
    out = []
    for r in result.results:
        config = r.expectation_config
        kwargs = config.kwargs
        column = kwargs.get("column") or kwargs.get("column_A") or ",".join(kwargs.get("column_list", []) or []) or None
        details = r.result or {}
        sample = [_readable(v) for v in (details.get("partial_unexpected_list") or [])][:SAMPLE_SIZE]
        if not r.success and not sample and details.get("observed_value") is not None:
            sample = [f"observed {details['observed_value']}"]  # table-level, e.g. a row count
        if r.exception_info and r.exception_info.get("raised_exception"):
            sample = [str(r.exception_info.get("exception_message"))[:200]]
        out.append(
            CheckResult(
                suite=suite.name,
                source=source,
                entity=entity,
                expectation=config.type,
                column=column,
                severity=(config.meta or {}).get("severity", ERROR),
                success=bool(r.success),
                rows_checked=rows,
                unexpected_count=int(details.get("unexpected_count") or 0),
                sample=sample,
            )
        )
    return out


def _validate_frame(
    datasource, frame: pl.DataFrame, suite: gx.ExpectationSuite, source: str, entity: str
) -> list[CheckResult]:
    asset = datasource.add_dataframe_asset(f"{source}_{entity}")
    batch = asset.add_batch_definition_whole_dataframe("load").get_batch(
        batch_parameters={"dataframe": frame.to_pandas()}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = batch.validate(
            suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
        )
    return _results(suite, result, source, entity, frame.height)


def _loads_with_rows(con: duckdb.DuckDBPyConnection, schema: str, entity: str) -> list[tuple[str, int]]:
    if not warehouse.table_exists(con, schema, warehouse.LOAD_LOG):
        return []
    return con.execute(
        f'select dlt_load_id, rows_new + rows_updated from "{schema}".{warehouse.LOAD_LOG} '
        "where entity = ? and rows_new + rows_updated > 0 and dlt_load_id is not null order by finished_at desc",
        [entity],
    ).fetchall()


def validate_source(
    con: duckdb.DuckDBPyConnection, source: str, entities: list[str], *, full: bool = False
) -> list[CheckResult]:
    """Run each entity's suite on the rows of the source's latest load (or all rows)."""
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")  # suites and batches need one; nothing is stored
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_pandas(f"o2c_{source}")
    schema = f"raw_{source}"
    fx = 'select distinct from_currency from "raw_fx".fx_rates union select distinct to_currency from "raw_fx".fx_rates'
    currencies = (
        sorted(r[0] for r in con.sql(fx).fetchall()) if warehouse.table_exists(con, "raw_fx", "fx_rates") else []
    )
    results: list[CheckResult] = []
    for name in entities:
        entity = ENTITIES[name]
        if not warehouse.table_exists(con, schema, name):
            continue
        loads = _loads_with_rows(con, schema, name)  # newest first: (dlt load id, rows)
        where = ""
        if not full:
            if not loads:
                continue  # nothing loaded yet, or nothing the load log knows of
            where = f" where _dlt_load_id = '{loads[0][0]}'"
        frame = warehouse.query_frame(con, f'select * from "{schema}"."{name}"{where}')
        parents = {parent: warehouse.known_keys(con, parent) for _, parent in entity.references}
        # Typical load size: the earlier incremental loads, not the initial backfill.
        recent = [rows for _, rows in loads[1:-1]][:10]
        suite = suite_for(entity, currencies=currencies, parent_keys=parents, recent_rows=recent)
        results.extend(_validate_frame(datasource, frame, suite, source, name))
    return results


def record_results(con: duckdb.DuckDBPyConnection, results: list[CheckResult], run_id: str) -> None:
    """Append to quality.dq_results: the history of every check, queryable and published."""
    con.execute(f"create schema if not exists {QUALITY_SCHEMA}")
    con.execute(
        f"create table if not exists {QUALITY_SCHEMA}.{RESULTS_TABLE} (run_id varchar, validated_at timestamp, "
        "suite varchar, source varchar, entity varchar, expectation varchar, column_name varchar, severity varchar, "
        "success boolean, rows_checked bigint, unexpected_count bigint, sample_unexpected varchar)"
    )
    if not results:
        return
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    frame = pl.DataFrame(
        [
            {
                "run_id": run_id, "validated_at": now, "suite": r.suite, "source": r.source, "entity": r.entity,
                "expectation": r.expectation, "column_name": r.column, "severity": r.severity, "success": r.success,
                "rows_checked": r.rows_checked, "unexpected_count": r.unexpected_count,
                "sample_unexpected": json.dumps(r.sample),
            }
            for r in results
        ]
    )  # fmt: skip
    con.register("_dq", frame.to_arrow())
    con.execute(f"insert into {QUALITY_SCHEMA}.{RESULTS_TABLE} by name select * from _dq")
    con.unregister("_dq")


def check_warehouse(
    path: Path, sources: list[str], entities_of, *, run_id: str, full: bool = False
) -> list[CheckResult]:
    con = warehouse.connect(path)
    try:
        results = [r for source in sources for r in validate_source(con, source, entities_of(source), full=full)]
        record_results(con, results, run_id)
        return results
    finally:
        con.close()
