"""Check results, whoever checked: the GX suites on the raw loads (quality/suites.py) and the dbt
tests (quality/dbt_results.py) both record theirs in quality.dq_results, which data health and
the run summaries read. Apart from the suites so that reading or recording a result does not
import Great Expectations (3 s at every start of `o2c` or the Dagster definitions)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

QUALITY_SCHEMA = "quality"
RESULTS_TABLE = "dq_results"
ERROR, WARN = "error", "warn"
# The expectation naming the columns beyond the contract: it passes, with a warning when there are any.
SCHEMA_DRIFT = "expect_table_columns_to_match_set"


@dataclass(frozen=True)
class CheckResult:
    suite: str
    source: str
    entity: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    rows_checked: int | None  # None: not counted (a dbt test counts only its failing rows)
    unexpected_count: int
    sample: list[str]

    @property
    def warning(self) -> bool:
        """Passed, but with something worth a look recorded: columns beyond the contract (kept)."""
        return self.success and self.severity == WARN and self.unexpected_count > 0

    @property
    def message(self) -> str:
        where = f"{self.source}.{self.entity}" + (f".{self.column}" if self.column else "")
        if self.warning and self.expectation == SCHEMA_DRIFT:
            return f"{where}: columns beyond the contract kept (warning): {', '.join(self.sample)}"
        if self.warning:
            return (
                f"{where}: {self.expectation} passed with a warning: {self.unexpected_count} of "
                f"{self.rows_checked} rows unexpected (e.g. {', '.join(self.sample) or 'n/a'})"
            )
        if self.success:
            return f"{where}: {self.expectation} passed"
        if self.expectation == "expect_column_to_exist":
            return f"{where}: {self.expectation} failed: a required column is missing"
        if self.rows_checked is None:  # a dbt test: the failing rows stay queryable in the warehouse
            return f"{where}: {self.expectation} failed for {self.unexpected_count} rows" + (
                f" ({self.sample[0]})" if self.sample and self.sample[0] else ""
            )
        return (
            f"{where}: {self.expectation} failed for {self.unexpected_count} of {self.rows_checked} rows "
            f"(e.g. {', '.join(self.sample) or 'n/a'})"
        )


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


def data_docs_index(docs_dir: Path) -> Path:
    """Where GX writes the data docs' front page."""
    return docs_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
