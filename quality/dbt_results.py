"""dbt test results as data-quality results: the checks on marts (and every other dbt data test)
run inside `dbt build` and land in quality.dq_results beside the GX results of the raw loads, so
the data-health page shows both. Read from dbt's artifacts (run_results.json and the manifest),
never by parsing dbt's log."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from core import db
from quality.results import ERROR, QUALITY_SCHEMA, RESULTS_TABLE, WARN, CheckResult, record_results

# dbt statuses of a data test that ran; `skipped` (its model failed to build) and anything else
# did not evaluate the test, so nothing is recorded for it.
PASSED, WARNED, FAILED, ERRORED = "pass", "warn", "fail", "error"

# dbt's not_null for several columns of a model in one test (macros/test_not_null_columns.sql),
# recorded as the not_null of each column, as a test per column was: the data-health page and the
# run summary name the column that has nulls.
NOT_NULL_COLUMNS, NOT_NULL = "not_null_columns", "not_null"

# The rows without a value in each of `columns` of the table `schema`.`name`, by column; None
# when the table cannot be read (a model Spark built and did not bring back).
NullCounts = Callable[[str, str, list[str]], dict[str, int] | None]


def dbt_test_results(
    run_results: dict[str, Any], manifest: dict[str, Any], null_counts: NullCounts | None = None
) -> list[CheckResult]:
    """One CheckResult per data test dbt evaluated (unit tests are logic tests, not data checks),
    and one per column for a not_null_columns test (`null_counts` tells a failed one's columns).
    A test on a model is filed under that model (source = its schema, entity = its name); a
    singular test that belongs to no one model under its own name (source `dbt`)."""
    nodes = manifest["nodes"]
    results = []
    for outcome in run_results["results"]:
        unique_id = outcome["unique_id"]
        status = outcome["status"]
        if not unique_id.startswith("test.") or status not in (PASSED, WARNED, FAILED, ERRORED):
            continue
        test = nodes[unique_id]
        attached = nodes.get(test.get("attached_node") or "")
        metadata = test.get("test_metadata") or {}
        source, entity = (attached["schema"], attached["name"]) if attached else ("dbt", test["name"])
        severity = WARN if str(test["config"].get("severity", "error")).lower() == WARN else ERROR
        result = CheckResult(
            suite=f"dbt_{entity}",
            source=source,
            entity=entity,
            # the generic test's name (unique, not_before, ...) or the singular test's own
            expectation=metadata.get("name") or test["name"],
            column=test.get("column_name"),
            # dbt reports a warn-severity failure as `warn`: failed, recorded, blocks nothing
            severity=WARN if status == WARNED else severity,
            success=status == PASSED,
            rows_checked=None,  # dbt counts the failing rows only
            unexpected_count=int(outcome.get("failures") or 0),
            # a test that could not run (SQL error) says why; failing rows stay in the warehouse
            sample=[str(outcome.get("message") or "")[:300]] if status == ERRORED else [],
        )
        if metadata.get("name") == NOT_NULL_COLUMNS and attached:
            columns = list(metadata["kwargs"]["column_names"])
            relation = (attached["schema"], attached.get("alias") or attached["name"])
            results.extend(_each_column(result, columns, relation, null_counts))
        else:
            results.append(result)
    return results


def _each_column(
    result: CheckResult, columns: list[str], relation: tuple[str, str], null_counts: NullCounts | None
) -> list[CheckResult]:
    """A not_null_columns result as the not_null of each of its columns. A failed one's columns
    are counted in the model; if it cannot be read, one failure names every column checked."""
    per_column = {column: replace(result, expectation=NOT_NULL, column=column) for column in columns}
    if result.success or result.sample:  # passed, or could not run (the error is said for each)
        return list(per_column.values())
    counts = null_counts(*relation, columns) if null_counts else None
    if not counts or not any(counts.values()):  # not readable, or no longer what dbt tested
        return [replace(result, expectation=NOT_NULL, column=", ".join(columns))]
    return [
        replace(checked, success=counts[column] == 0, unexpected_count=counts[column])
        for column, checked in per_column.items()
    ]


def _warehouse_null_counts(con: Any) -> NullCounts:
    def counts(schema: str, name: str, columns: list[str]) -> dict[str, int] | None:
        if not db.table_exists(con, schema, name):
            return None
        nulls = ", ".join(f'count(*) - count("{column}")' for column in columns)
        row = con.execute(f'select {nulls} from "{schema}"."{name}"').fetchone()
        return dict(zip(columns, (int(n) for n in row), strict=True))

    return counts


def record_dbt_results(warehouse: Path, target: Path, run_id: str) -> list[CheckResult]:
    """Record the data tests of the dbt invocation whose artifacts are in `target` (nothing if it
    wrote no run results: killed before the end)."""
    run_results = target / "run_results.json"
    if not run_results.exists():
        return []
    con = db.connect(warehouse)
    try:
        results = dbt_test_results(
            json.loads(run_results.read_text()),
            json.loads((target / "manifest.json").read_text()),
            _warehouse_null_counts(con),
        )
        record_results(con, results, run_id)
    finally:
        con.close()
    return results


def dbt_results_of_run(warehouse: Path, run_id: str) -> list[CheckResult]:
    """The dbt data tests recorded for the run `run_id` (record_dbt_results), read back from
    quality.dq_results: the one record of them that the publish step and the run summary read."""
    if not warehouse.exists():  # a run that failed before building anything
        return []
    con = db.connect(warehouse)  # as the run's other steps open it (one configuration per process)
    try:
        if not db.table_exists(con, QUALITY_SCHEMA, RESULTS_TABLE):
            return []
        rows = con.execute(
            f"select suite, source, entity, expectation, column_name, severity, success, unexpected_count, "
            f"sample_unexpected from {QUALITY_SCHEMA}.{RESULTS_TABLE} where run_id = ? and suite like 'dbt\\_%' escape '\\' "
            "order by source, entity, expectation, column_name",
            [run_id],
        ).fetchall()
    finally:
        con.close()
    return [
        CheckResult(suite, source, entity, expectation, column, severity, success, None, failures, json.loads(sample))
        for suite, source, entity, expectation, column, severity, success, failures, sample in rows
    ]
