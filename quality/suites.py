"""Data quality with Great Expectations: a suite per raw entity, run on each load's rows.

The source contract (conform.py) already quarantines rows that are wrong on their own. These
suites check what a row cannot tell alone: keys unique across the table, dates in order,
currencies the FX table knows, references across sources, and loads whose size is out of line
with recent ones. Severity `error` blocks the publish; `warn` is recorded and shown.

Validation runs through GX's pandas route on the rows of the latest load: GX 1.24's SQL
datasource cannot run against DuckDB here (every expectation fails with a connection or
`list index out of range` error), see docs/decisions.md. So that memory does not grow with the
table, DuckDB selects only the columns a suite uses, computes what needs more than one row (key
uniqueness, references, parent dates) as derived columns, and hands GX the rows in chunks whose
results are then added up (`_validate_table`).

Optional data never blocks (the contract is minimal: a real AR export may lack whole entities and
most columns):
- a raw suite reads `Column.required`: a required column (or key) must exist and be filled, both
  blocking; an optional column the table lacks has no expectation at all, and one that is present
  is checked only on its values (rules, dates, references ignore nulls), so all-null passes;
- columns beyond the contract are kept (the file connectors load them as text): the schema-drift
  expectation passes and names them, severity `warn`, a warning recorded, never a failure;
- an empty raw table (an optional entity with no rows) passes: every value expectation holds on
  no rows, and the table-level ones see its columns.

The checks on marts are dbt data tests (dbt_project/models/marts/*.yml), run inside `dbt build`;
their results are recorded in the same table (quality/dbt_results.py).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.execution_engine import pandas_execution_engine
from great_expectations.validator.v1_validator import Validator

from core import db
from ingestion import warehouse
from ingestion.contract import ENTITIES, Entity, Rule
from quality.results import ERROR, SCHEMA_DRIFT, WARN, CheckResult, record_results
from quality.rules import DATE_ORDER, JOINED_DATES, LATE_REFERENCES, PLAUSIBLE_DATES

SAMPLE_SIZE = 5
# Validation results kept per suite for the data docs (the dq_results table keeps every run).
KEPT_RESULTS = 30
LINEAGE_COLUMNS = ("_source_file", "_dlt_load_id")
UNKNOWN_PREFIX = "_unknown__"
# Derived column holding the key where it occurs more than once (uniqueness checked chunk by chunk).
DUPLICATE_PREFIX = "_duplicate__"
# Rows GX validates at a time: bounds the checks' memory whatever the table's size, while the
# fixed cost of each GX validation (a fraction of a second) stays small against the rows' own.
CHUNK_ROWS = 500_000
# DuckDB's memory while checking; beyond it its joins and aggregates spill to disk.
DUCKDB_MEMORY = "1GB"
# Expectations on the table as a whole (its columns and size) rather than on its values: validated
# once, on a frame with the table's shape (`_shape_frame`).
TABLE_EXPECTATIONS = frozenset(
    {"expect_column_to_exist", "expect_table_columns_to_match_set", "expect_table_row_count_to_be_between"}
)

# GX fingerprints every pandas batch under 1 GB by hashing all its values (a batch marker nothing
# here reads): at scale m that was about half of the raw checks' time, the frames of nulls the
# table expectations see included. A threshold of 0 turns the fingerprint off.
pandas_execution_engine.HASH_THRESHOLD = 0


def _unique(keys: list[str]) -> gxe.Expectation:
    """Uniqueness of a key across all rows, which a chunk alone cannot tell: DuckDB derives a
    column holding the key (pairs as 'a vs b') on every row whose key occurs more than once, null
    elsewhere (`_duplicate_sql`), and GX expects it null. The results name the uniqueness
    expectation and the key columns; the unexpected count is the rows in duplicate, as GX's own."""
    return gxe.ExpectColumnValuesToBeNull(
        column=DUPLICATE_PREFIX + ",".join(keys),
        meta={"severity": ERROR},
        notes=f"Uniqueness of {', '.join(keys)}: every row whose key occurs more than once is unexpected.",
    )


def suite_for(
    entity: Entity,
    *,
    columns: list[str],
    currencies: list[str],
    unknown_reference_columns: list[str],
    recent_rows: list[int],
    joined_date: str | None = None,
    empty_columns: frozenset[str] = frozenset(),
    has_rows: bool = True,
) -> gx.ExpectationSuite:
    """The expectations for one entity's rows, whose raw table has `columns`.
    `unknown_reference_columns` are the referencing columns checked through their derived
    `_unknown__<column>` column; `joined_date` is the derived parent date column, if computed.

    Required columns and keys must exist and be filled (blocking). An optional column the table
    lacks, or one of `empty_columns` (optional, no value in the rows checked), has no expectation:
    there is nothing to check, and its type may be whatever the loader guessed for no values.
    Without rows (an optional entity the source has none of) no column is demanded: no row lacks
    a value, and every value expectation holds."""
    expectations: list[gxe.Expectation] = []
    add = expectations.append
    present = (set(columns) - empty_columns) | ({joined_date} if joined_date else set())

    def mandatory(column: str) -> bool:
        return entity.column(column).required or column in entity.primary_key

    for column in entity.columns:
        if mandatory(column.name) and has_rows:
            add(gxe.ExpectColumnToExist(column=column.name, meta={"severity": ERROR}))
    # Columns beyond the contract are kept and named as a warning (schema drift), never a failure:
    # the expected set is the known columns the table has, so the expectation passes and GX lists
    # the others as unexpected. A missing required column is `expect_column_to_exist`'s failure.
    known = {*entity.column_names, *LINEAGE_COLUMNS}
    add(
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[
                *(c for c in columns if c in known),
                *(UNKNOWN_PREFIX + c for c in unknown_reference_columns),
                *([joined_date] if joined_date else []),
            ],
            exact_match=False,
            meta={"severity": WARN},
        )
    )
    if all(k in present for k in entity.primary_key):
        add(_unique(list(entity.primary_key)))
    for column in entity.columns:
        if mandatory(column.name) and column.name in present:
            add(gxe.ExpectColumnValuesToNotBeNull(column=column.name, meta={"severity": ERROR}))
    for rule in entity.rules:
        expectation = _rule_expectation(rule, currencies) if rule.column in present else None
        if expectation is not None:  # (none for an optional column the source does not have)
            add(expectation)
    for expectation in _date_expectations(entity, present):
        add(expectation)
    for column in unknown_reference_columns:
        # The derived column holds the value only where no parent has it: every value there is
        # a broken reference, and the sample shows the keys themselves.
        late = column in {c for c, _ in LATE_REFERENCES.get(entity.name, [])}
        add(gxe.ExpectColumnValuesToBeNull(column=UNKNOWN_PREFIX + column, meta={"severity": WARN if late else ERROR}))
    if len(recent_rows) >= 3:
        typical = sorted(recent_rows)[len(recent_rows) // 2]
        add(gxe.ExpectTableRowCountToBeBetween(min_value=0, max_value=max(10 * typical, 1000), meta={"severity": WARN}))
    # Made in one go: ExpectationSuite.add_expectation compares each new expectation with every
    # one before it (seconds per run for the sources' suites); the same expectation twice is
    # still kept once, as it would keep it.
    unique = {_identity(e): e for e in expectations}
    return gx.ExpectationSuite(name=f"raw_{entity.name}", expectations=list(unique.values()))


def _identity(expectation: gxe.Expectation) -> str:
    """What makes two expectations the same in a suite (as GX compares them: not id, notes, meta)."""
    fields = expectation.dict(exclude={"id", "rendered_content", "notes", "meta"})
    return json.dumps([expectation.expectation_type, fields], sort_keys=True, default=str)


def _rule_expectation(rule: Rule, currencies: list[str]) -> gxe.Expectation | None:
    """The expectation of one contract rule on a column the rows have, if it has one."""
    if rule.check == "positive":
        return gxe.ExpectColumnValuesToBeBetween(
            column=rule.column, min_value=0, strict_min=True, meta={"severity": ERROR}
        )
    if rule.check == "non_negative":
        return gxe.ExpectColumnValuesToBeBetween(column=rule.column, min_value=0, meta={"severity": ERROR})
    if rule.check == "currency" and currencies:
        # Known to the FX table: without a rate no amount can be reported.
        return gxe.ExpectColumnValuesToBeInSet(column=rule.column, value_set=currencies, meta={"severity": ERROR})
    if rule.check == "one_of":
        return gxe.ExpectColumnValuesToBeInSet(
            column=rule.column, value_set=list(rule.allowed), meta={"severity": ERROR}
        )
    return None


def _date_expectations(entity: Entity, present: set[str]) -> Iterator[gxe.Expectation]:
    """Dates in their order (DATE_ORDER) and within the plausible range (PLAUSIBLE_DATES), on
    the date columns the rows have."""
    for later, earlier in DATE_ORDER.get(entity.name, []):
        if later in present and earlier in present:
            yield gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=later,
                column_B=earlier,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta={"severity": ERROR},
            )
    earliest, days_ahead = PLAUSIBLE_DATES
    latest = dt.datetime.combine(dt.date.today() + dt.timedelta(days=days_ahead), dt.time())
    for column in entity.columns:
        if column.type == "date" and column.name in present:
            yield gxe.ExpectColumnValuesToBeBetween(
                column=column.name, min_value=earliest, max_value=latest, meta={"severity": ERROR}
            )


def _readable(value: object, scale: int | None = None) -> str:
    """An unexpected value as a person would write it (pairs as 'a vs b', dates ISO; a decimal
    column's value, validated as a float, with the column's `scale` digits: -1.50, not -1.5)."""
    if scale is not None and isinstance(value, float):
        return f"{value:.{scale}f}"
    if isinstance(value, list | tuple):
        return " vs ".join(_readable(v) for v in value)
    if isinstance(value, dict):
        return " vs ".join(_readable(v) for v in value.values())
    if isinstance(value, np.datetime64):  # GX's pairs of dates come as NumPy's, not pandas'
        value = pd.Timestamp(value)
    if isinstance(value, dt.datetime) and value is not pd.NaT and value.time() == dt.time():
        return value.date().isoformat()  # a date column, validated as a pandas timestamp
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _exception_message(result: ExpectationValidationResult) -> str | None:
    """The message of an exception GX raised validating, if any: GX gives it either at the top of
    `exception_info` or, when a metric failed to compute, under each metric's id."""
    info = result.exception_info or {}
    for entry in [info, *(v for v in info.values() if isinstance(v, dict))]:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message"))
    return None


def _results(
    suite: gx.ExpectationSuite, result, source: str, entity: str, rows: int, scales: dict[str, int]
) -> list[CheckResult]:
    """`scales`: the decimal columns' scales, to write their unexpected values as the source did."""
    out = []
    for r in result.results:
        config = r.expectation_config
        kwargs = config.kwargs
        column = kwargs.get("column") or kwargs.get("column_A") or ",".join(kwargs.get("column_list", []) or []) or None
        expectation_type = config.type
        if column and column.startswith(UNKNOWN_PREFIX):
            column, expectation_type = (
                column.removeprefix(UNKNOWN_PREFIX),
                "expect_column_values_to_reference_a_known_key",
            )
        elif column and column.startswith(DUPLICATE_PREFIX):
            column = column.removeprefix(DUPLICATE_PREFIX)
            expectation_type = (
                "expect_compound_columns_to_be_unique" if "," in column else "expect_column_values_to_be_unique"
            )
        details = r.result or {}
        scale = scales.get(column) if column else None
        sample = [_readable(v, scale) for v in (details.get("partial_unexpected_list") or [])][:SAMPLE_SIZE]
        unexpected = int(details.get("unexpected_count") or 0)
        if expectation_type == SCHEMA_DRIFT:
            # The columns beyond the contract, all of them: the count is of columns, not rows.
            sample = [str(c) for c in ((details.get("details") or {}).get("mismatched") or {}).get("unexpected", [])]
            unexpected = len(sample)
        if not r.success and not sample and details.get("observed_value") is not None:
            sample = [f"observed {details['observed_value']}"]  # table-level, e.g. a row count
        if (raised := _exception_message(r)) is not None:
            sample = [raised[:200]]
        out.append(
            CheckResult(
                suite=suite.name,
                source=source,
                entity=entity,
                expectation=expectation_type,
                column=column,
                severity=(config.meta or {}).get("severity", ERROR),
                success=bool(r.success),
                rows_checked=rows,
                unexpected_count=unexpected,
                sample=sample,
            )
        )
    return out


RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}


def _batch_definition(datasource, name: str):
    try:
        asset = datasource.get_asset(name)
    except LookupError:
        asset = datasource.add_dataframe_asset(name)
    try:
        return asset.get_batch_definition("load")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("load")


def _columns_used(suite: gx.ExpectationSuite) -> list[str]:
    """The columns the suite's value expectations read, in suite order: all a chunk needs."""
    used: list[str] = []
    for expectation in suite.expectations:
        if expectation.expectation_type in TABLE_EXPECTATIONS:
            continue
        kwargs = expectation.configuration.kwargs
        for column in [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")]:
            if column and column not in used:
                used.append(column)
    return used


def _table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _select_sql(table: str, where: str, columns: list[str], used: list[str], derived: dict[str, str]) -> str:
    """The rows to validate, with only the used columns: those the table has (one it lacks is left
    out, for GX to report as missing) and the derived ones, computed by DuckDB. With none (a
    table without any column the suite reads), a placeholder keeps the rows."""
    select = [f"t.{_quoted(c)}" for c in used if c in columns]
    select += [f"{sql} as {_quoted(name)}" for name, sql in derived.items() if name in used]
    return f"select {', '.join(select) or 'null as _row'} from {table} t{where}"


def _duplicate_sql(table: str, where: str, keys: list[str]) -> str:
    """The key (pairs as 'a vs b') on rows whose key occurs more than once among the rows
    validated, null elsewhere: see `_unique`. Rows whose key is all null are left out, as GX's
    uniqueness expectations leave them out."""
    quoted = [f'"{k}"' for k in keys]
    if len(keys) == 1:
        row, value = f"t.{quoted[0]}", f"t.{quoted[0]}"
    else:
        row = "(" + ", ".join(f"t.{k}" for k in quoted) + ")"
        value = "concat_ws(' vs ', " + ", ".join(f"t.{k}::varchar" for k in quoted) + ")"
    keyed = (f"{where} and" if where else " where") + " not (" + " and ".join(f"{k} is null" for k in quoted) + ")"
    duplicated = f"select ({', '.join(quoted)}) from {table}{keyed} group by all having count(*) > 1"
    return f"case when {row} in ({duplicated}) then {value} end"


def _shape_frame(columns: list[str], rows: int) -> pd.DataFrame:
    """A frame with the table's columns and number of rows but no values (Arrow null arrays hold
    no data): what the expectations on columns and row counts need, at no cost."""
    return pd.DataFrame(
        {c: pd.array(pa.nulls(rows), dtype=pd.ArrowDtype(pa.null())) for c in columns}, index=pd.RangeIndex(rows)
    )


def _run(batch_definition, frame: pd.DataFrame, suite: gx.ExpectationSuite) -> ExpectationSuiteValidationResult:
    """GX's validation of one frame, through the validator a validation definition runs: unlike
    `Batch.validate` it builds the batch once (each build fingerprints every value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        validator = Validator(
            batch_definition=batch_definition, batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT
        )
        return validator.validate_expectation_suite(suite)


def _pandas(batch: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    """Rows for GX. Dates and timestamps become nanosecond datetimes and decimals floats: GX
    compares those with vectorised pandas, any other datetime unit and Python's Decimal one Python
    call per value (a third of the checks' time at scale m). A float holds the sign and range of
    every DECIMAL(18, s) amount the checks compare; `_readable` writes the samples back at their
    column's scale. A datetime outside the nanosecond range (beyond 2262) keeps its unit, and its
    check takes the slow path."""
    rows = pl.from_arrow(batch)
    frame = rows.with_columns(pl.col(pl.Decimal).cast(pl.Float64)).to_pandas()
    for column in frame.columns:
        if pd.api.types.is_datetime64_dtype(frame[column]) and not pd.api.types.is_datetime64_ns_dtype(frame[column]):
            with contextlib.suppress(pd.errors.OutOfBoundsDatetime):
                frame[column] = frame[column].astype("datetime64[ns]")
    return frame


def _decimal_scales(schema: pa.Schema) -> dict[str, int]:
    """The scale of each decimal column of the rows validated (`_readable` writes samples with it)."""
    return {field.name: field.type.scale for field in schema if pa.types.is_decimal(field.type)}


def _merged_counts(parts: list[ExpectationValidationResult]) -> list[dict[str, object]]:
    """GX's `partial_unexpected_counts` over the chunks' samples."""
    counts: list[dict[str, object]] = []
    for part in parts:
        for entry in (part.result or {}).get("partial_unexpected_counts") or []:
            same = next((c for c in counts if c["value"] == entry["value"]), None)
            if same is not None:
                same["count"] = int(same["count"]) + int(entry["count"])
            elif len(counts) < SAMPLE_SIZE:
                counts.append(dict(entry))
    return counts


def _combined(parts: list[ExpectationValidationResult]) -> ExpectationValidationResult:
    """One value expectation's result over all chunks, as GX reports it on the whole table:
    counts summed, the first chunks' unexpected values as the sample, and success as GX decides
    it for map expectations: no unexpected value, or with `mostly` the share of the rows considered
    (non-null ones, but every row for not-null checks) that have no fault."""
    first = parts[0]
    raised = [p for p in parts if _exception_message(p) is not None]
    if len(parts) == 1 or raised:
        return raised[0] if raised else first  # a missing column fails every chunk alike
    results = [p.result or {} for p in parts]

    def total(field: str) -> int:
        return sum(int(r.get(field) or 0) for r in results)

    elements, missing, unexpected = total("element_count"), total("missing_count"), total("unexpected_count")
    considered = elements - missing
    mostly = first.expectation_config.kwargs.get("mostly")
    if mostly is None:
        success = all(p.success for p in parts)  # each chunk succeeds exactly when it has no unexpected value
    else:
        success = considered == 0 or (considered - unexpected) / considered >= mostly
    result = dict(results[0])

    def percent(count: int, of: int) -> float | None:
        return 100 * count / of if of else None

    merged = {
        "element_count": elements,
        "missing_count": missing,
        "unexpected_count": unexpected,
        "unexpected_percent": percent(unexpected, considered),
        "missing_percent": percent(missing, elements),
        "unexpected_percent_total": percent(unexpected, elements),
        "unexpected_percent_nonmissing": percent(unexpected, considered),
        "partial_unexpected_list": [v for r in results for v in r.get("partial_unexpected_list") or []][:SAMPLE_SIZE],
        "partial_unexpected_index_list": [i for r in results for i in r.get("partial_unexpected_index_list") or []][
            :SAMPLE_SIZE
        ],
        "partial_unexpected_counts": _merged_counts(parts),
    }
    result.update({k: v for k, v in merged.items() if k in result})  # the fields GX gave this expectation
    return ExpectationValidationResult(
        success=success,
        expectation_config=first.expectation_config,
        result=result,
        meta=first.meta,
        exception_info=first.exception_info,
    )


def _expectation_key(type_: str, kwargs: dict) -> str:
    return json.dumps([type_, {k: v for k, v in kwargs.items() if k != "batch_id"}], sort_keys=True, default=str)


def _in_suite_order(
    results: list[ExpectationValidationResult], expectations: list[gxe.Expectation]
) -> list[ExpectationValidationResult]:
    """A chunk's results in the order of the suite's expectations. GX lists first the results
    whose metrics raised (a missing column, values it cannot compare), so without this the n-th
    results of two chunks, which `_combined` adds up, could be different expectations'."""
    position = {_expectation_key(e.expectation_type, e.configuration.kwargs): i for i, e in enumerate(expectations)}
    return sorted(
        results,
        key=lambda r: position.get(_expectation_key(r.expectation_config.type, r.expectation_config.kwargs), -1),
    )


def _validate_table(
    context,
    datasource,
    con: duckdb.DuckDBPyConnection,
    suite: gx.ExpectationSuite,
    *,
    sql: str,
    columns: list[str],
    rows: int,
    source: str,
    entity: str,
    kept: list[ExpectationSuiteIdentifier | ValidationResultIdentifier] | None,
) -> list[CheckResult]:
    """Validate `suite` on the rows `sql` returns, which hold the `columns` and number of `rows` the
    table-level expectations see. The value expectations run on CHUNK_ROWS rows at a time and their
    results are added up into one per expectation, as if GX had the whole table. With `kept`, the
    suite and that result are stored for the data docs, and their keys added to `kept`."""
    batch_definition = _batch_definition(datasource, f"{source}_{entity}")
    # GX lets an expectation belong to one suite only: the two parts hold copies.
    on_table = [copy.copy(e) for e in suite.expectations if e.expectation_type in TABLE_EXPECTATIONS]
    on_values = [copy.copy(e) for e in suite.expectations if e.expectation_type not in TABLE_EXPECTATIONS]
    table_result = _run(batch_definition, _shape_frame(columns, rows), gx.ExpectationSuite(suite.name, on_table))
    values_suite = gx.ExpectationSuite(suite.name, on_values)
    chunks: list[list[ExpectationValidationResult]] = []
    meta = table_result.meta
    reader = con.sql(sql).to_arrow_reader(CHUNK_ROWS)
    offset = 0
    for batch in reader:
        frame = _pandas(batch)
        frame.index = pd.RangeIndex(offset, offset + len(frame))  # sample row numbers count from the first chunk
        offset += len(frame)
        result = _run(batch_definition, frame, values_suite)
        chunks.append(_in_suite_order(result.results, on_values))
        meta = result.meta
        del frame
    if not chunks:  # no rows: GX still judges the empty table
        empty = _pandas(reader.schema.empty_table())
        chunks.append(_in_suite_order(_run(batch_definition, empty, values_suite).results, on_values))
    table_results, value_results = iter(table_result.results), iter(zip(*chunks, strict=True))
    results = [
        next(table_results) if e.expectation_type in TABLE_EXPECTATIONS else _combined(list(next(value_results)))
        for e in suite.expectations
    ]
    passed = sum(r.success for r in results)
    combined = ExpectationSuiteValidationResult(
        success=passed == len(results),
        results=results,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100 * passed / len(results) if results else None,
        },
        meta=meta,
    )
    if kept is not None:
        suite = context.suites.add_or_update(suite)
        run_id = RunIdentifier(run_time=dt.datetime.now(dt.UTC))
        combined.meta.update(run_id=run_id, validation_time=run_id.run_time)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
            run_id=run_id,
            batch_identifier=table_result.batch_id,
        )
        context.validation_results_store.set(key, combined)
        kept += [key.expectation_suite_identifier, key]
    return _results(suite, combined, source, entity, rows, _decimal_scales(reader.schema))


def _prune_results(docs_dir: Path, keep: int) -> None:
    """Keep the newest `keep` stored results of each suite, and their rendered pages. Building
    the data docs renders every stored result, so unbounded, each build took longer than the last."""
    uncommitted = docs_dir / "gx" / "uncommitted"
    for store in (uncommitted / "validations", uncommitted / "data_docs" / "local_site" / "validations"):
        for suite in (d for d in store.glob("*") if d.is_dir()):
            # <run name>/<run time>: run times (20261124T065905.052642Z) sort as they happened.
            runs = sorted((r for r in suite.glob("*/*") if r.is_dir()), key=lambda r: r.name)
            for old in runs[:-keep]:
                shutil.rmtree(old, ignore_errors=True)


def build_data_docs(docs_dir: Path, new: list[ExpectationSuiteIdentifier | ValidationResultIdentifier]) -> None:
    """Render the suites and results just stored in `docs_dir` (`new`), and the index of all kept
    ones, as GX data docs: once per check of the warehouse. Rendering every kept result (30 per
    suite) on every run took longer than the checks themselves."""
    _prune_results(docs_dir, KEPT_RESULTS)
    context = gx.get_context(mode="file", project_root_dir=str(docs_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context.build_data_docs(resource_identifiers=new)


def _across_raw_schemas(con: duckdb.DuckDBPyConnection, entity: str, columns: dict[str, str]) -> str | None:
    """SQL of `columns` (alias: column) from the entity's table in every raw schema whose table
    has them all (union all), or None if none has: a source may lack an optional column."""
    select = ", ".join(f'"{column}" as {alias}' for alias, column in columns.items())
    parts = [
        f'select {select} from "{s}"."{entity}"'
        for s in warehouse.raw_schemas(con)
        if db.table_exists(con, s, entity) and set(columns.values()) <= set(_table_columns(con, s, entity))
    ]
    return " union all ".join(parts) if parts else None


def _unknown_sql(con: duckdb.DuckDBPyConnection, column: str, parent: str) -> str | None:
    """The value of `column` where no raw schema has it as a key of `parent`, else null (None if no
    source provides the parent). DuckDB joins against the keys; they never leave the database."""
    (key,) = ENTITIES[parent].primary_key
    keys = _across_raw_schemas(con, parent, {"k": key})
    if keys is None or not con.execute(f"select exists({keys})").fetchall()[0][0]:
        return None
    return f'case when t."{column}" not in (select k from ({keys}) p where k is not null) then t."{column}" end'


def validate_source(
    con: duckdb.DuckDBPyConnection,
    source: str,
    entities: list[str],
    *,
    full: bool = False,
    docs_dir: Path | None = None,
    kept: list[ExpectationSuiteIdentifier | ValidationResultIdentifier] | None = None,
) -> list[CheckResult]:
    """Run each entity's suite on the rows of the source's latest load (or all rows); with
    `docs_dir`, the suites and results are also stored there and their keys added to `kept`
    (build_data_docs renders them)."""
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    if docs_dir is not None and kept is None:
        kept = []  # stored all the same, rendered by a later build_data_docs
    # The rows are validated through an ephemeral context: a file context writes its whole
    # configuration to great_expectations.yml at every asset and batch definition added (about
    # 0.1 s each, two a table). The file context, with `docs_dir`, only stores the suites and
    # results the data docs render.
    validating = gx.get_context(mode="ephemeral")
    validating.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = validating.data_sources.add_or_update_pandas(f"o2c_{source}")
    context = None
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(docs_dir))
    schema = f"raw_{source}"
    currencies = warehouse.fx_currencies(con)
    results: list[CheckResult] = []
    for name in entities:
        entity = ENTITIES[name]
        if not db.table_exists(con, schema, name):
            continue
        loads = warehouse.loads_with_rows(con, schema, name)  # newest first: (dlt load id, rows)
        where = ""
        if not full:
            if not loads:
                continue  # nothing loaded yet, or nothing the load log knows of
            where = f" where _dlt_load_id = '{loads[0][0]}'"
        table = f'"{schema}"."{name}"'
        columns = _table_columns(con, schema, name)
        # Columns the rows are validated with besides their own (DuckDB computes them; the
        # expected column set names them too). A column the table lacks derives nothing.
        derived: dict[str, str] = {}
        joined_date = None
        if name in JOINED_DATES and JOINED_DATES[name][0] in columns:
            key, parent, date_column = JOINED_DATES[name]
            (parent_key,) = ENTITIES[parent].primary_key
            parents = _across_raw_schemas(con, parent, {"k": parent_key, "d": date_column})
            joined_date = "_" + date_column
            derived[joined_date] = (
                f'(select min(d) from ({parents}) p where p.k = t."{key}")' if parents else "null::date"
            )
        checked = []
        for column, parent in [*entity.references, *LATE_REFERENCES.get(name, [])]:
            if column not in columns:
                continue  # an optional reference the source does not have
            unknown = _unknown_sql(con, column, parent)
            if unknown is not None:  # a parent no source provides cannot be checked
                derived[UNKNOWN_PREFIX + column] = unknown
                checked.append(column)
        # The rows checked, and the optional columns without a value in them: treated as absent.
        optional = [
            c.name for c in entity.columns if not c.required and c.name not in entity.primary_key and c.name in columns
        ]
        rows, *counts = con.execute(
            f"select {', '.join(['count(*)', *(f'count({_quoted(c)})' for c in optional)])} from {table}{where}"
        ).fetchall()[0]
        empty_columns = frozenset(c for c, filled in zip(optional, counts, strict=True) if filled == 0)
        # Typical load size: the earlier incremental loads, not the initial backfill.
        recent = [n for _, n in loads[1:-1]][:10]
        suite = suite_for(
            entity,
            columns=columns,
            currencies=currencies,
            unknown_reference_columns=checked,
            recent_rows=recent,
            joined_date=joined_date,
            empty_columns=empty_columns,
            has_rows=rows > 0,
        )
        shape = [*columns, *derived]
        if all(k in columns for k in entity.primary_key):
            derived[DUPLICATE_PREFIX + ",".join(entity.primary_key)] = _duplicate_sql(
                table, where, list(entity.primary_key)
            )
        results.extend(
            _validate_table(
                context,
                datasource,
                con,
                suite,
                sql=_select_sql(table, where, columns, _columns_used(suite), derived),
                columns=shape,
                rows=rows,
                source=source,
                entity=name,
                kept=kept if docs_dir is not None else None,
            )
        )
    return results


@contextlib.contextmanager
def _checks_connection(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection whose DuckDB memory is capped for the checks' queries (key counts, reference
    joins over whole tables), which spill to disk beyond it: with GX's chunks, that bounds the
    checks' memory at any table size."""
    con = db.connect(path)
    try:
        with db.memory_limited(con, DUCKDB_MEMORY):
            yield con
    finally:
        con.close()


def check_warehouse(
    path: Path, sources: list[str], entities_of, *, run_id: str, full: bool = False, docs_dir: Path | None = None
) -> list[CheckResult]:
    kept: list[ExpectationSuiteIdentifier | ValidationResultIdentifier] = []
    with _checks_connection(path) as con:
        results = [
            r
            for source in sources
            for r in validate_source(con, source, entities_of(source), full=full, docs_dir=docs_dir, kept=kept)
        ]
        record_results(con, results, run_id)
    if docs_dir is not None and kept:
        build_data_docs(docs_dir, kept)
    return results
