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
UNKNOWN_PREFIX = "_unknown__"

# Extra rules per entity that need more than one column of a row: (later, earlier) dates.
DATE_ORDER: dict[str, list[tuple[str, str]]] = {
    "invoices": [("due_date", "invoice_date")],
    "disputes": [("resolved_date", "opened_date")],
    "shipments": [("shipment_date", "_order_date")],
}
# A date from a parent row, joined in before validation: (key column, parent, parent's date).
JOINED_DATES: dict[str, tuple[str, str, str]] = {"shipments": ("order_id", "sales_orders", "order_date")}
# References a later load may still satisfy (processor files can land after the ERP): warnings.
LATE_REFERENCES: dict[str, list[tuple[str, str]]] = {"payment_applications": [("payment_id", "payments")]}
# Business dates outside this window are typos (a year 2206 due date), not business.
PLAUSIBLE_DATES = (dt.datetime(1990, 1, 1), 400)  # (earliest, days after today); pandas dates are datetimes


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
    entity: Entity, *, currencies: list[str], unknown_reference_columns: list[str], recent_rows: list[int]
) -> gx.ExpectationSuite:
    """The expectations for one entity's rows. `unknown_reference_columns` are the referencing
    columns checked through their derived `_unknown__<column>` column."""
    suite = gx.ExpectationSuite(name=f"raw_{entity.name}")
    add = suite.add_expectation
    for column in entity.columns:
        add(gxe.ExpectColumnToExist(column=column.name, meta={"severity": ERROR}))
    # Columns beyond the contract are kept but reported (schema drift).
    add(
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[
                *entity.column_names,
                *LINEAGE_COLUMNS,
                *(UNKNOWN_PREFIX + c for c in unknown_reference_columns),
                *(["_" + JOINED_DATES[entity.name][2]] if entity.name in JOINED_DATES else []),
            ],
            exact_match=True,
            meta={"severity": WARN},
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
    earliest, days_ahead = PLAUSIBLE_DATES
    latest = dt.datetime.combine(dt.date.today() + dt.timedelta(days=days_ahead), dt.time())
    for column in entity.columns:
        if column.type == "date":
            add(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column.name, min_value=earliest, max_value=latest, meta={"severity": ERROR}
                )
            )
    for column in unknown_reference_columns:
        # The derived column holds the value only where no parent has it: every value there is
        # a broken reference, and the sample shows the keys themselves.
        late = column in {c for c, _ in LATE_REFERENCES.get(entity.name, [])}
        add(gxe.ExpectColumnValuesToBeNull(column=UNKNOWN_PREFIX + column, meta={"severity": WARN if late else ERROR}))
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
        expectation_type = config.type
        if column and column.startswith(UNKNOWN_PREFIX):
            column, expectation_type = (
                column.removeprefix(UNKNOWN_PREFIX),
                "expect_column_values_to_reference_a_known_key",
            )
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
                expectation=expectation_type,
                column=column,
                severity=(config.meta or {}).get("severity", ERROR),
                success=bool(r.success),
                rows_checked=rows,
                unexpected_count=int(details.get("unexpected_count") or 0),
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


def _validate_frame(
    context, datasource, frame: pl.DataFrame, suite: gx.ExpectationSuite, source: str, entity: str, *, keep: bool
) -> list[CheckResult]:
    """Validate; with `keep`, through a stored checkpoint whose results feed the data docs."""
    batch_definition = _batch_definition(datasource, f"{source}_{entity}")
    parameters = {"dataframe": frame.to_pandas()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not keep:
            result = batch_definition.get_batch(batch_parameters=parameters).validate(
                suite, result_format=RESULT_FORMAT
            )
        else:
            suite = context.suites.add_or_update(suite)
            name = f"{source}.{entity}"
            definition = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
            )
            checkpoint = context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=name,
                    validation_definitions=[definition],
                    actions=[],  # the docs are built once, after every entity
                    result_format=RESULT_FORMAT,
                )
            )
            result = next(iter(checkpoint.run(batch_parameters=parameters).run_results.values()))
    return _results(suite, result, source, entity, frame.height)


def data_docs_index(docs_dir: Path) -> Path:
    """Where GX writes the data docs' front page."""
    return docs_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def _loads_with_rows(con: duckdb.DuckDBPyConnection, schema: str, entity: str) -> list[tuple[str, int]]:
    if not warehouse.table_exists(con, schema, warehouse.LOAD_LOG):
        return []
    return con.execute(
        f'select dlt_load_id, rows_new + rows_updated from "{schema}".{warehouse.LOAD_LOG} '
        "where entity = ? and rows_new + rows_updated > 0 and dlt_load_id is not null order by finished_at desc",
        [entity],
    ).fetchall()


def validate_source(
    con: duckdb.DuckDBPyConnection,
    source: str,
    entities: list[str],
    *,
    full: bool = False,
    docs_dir: Path | None = None,
) -> list[CheckResult]:
    """Run each entity's suite on the rows of the source's latest load (or all rows); with
    `docs_dir`, results are also kept there and rendered as GX data docs."""
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(docs_dir))
    else:
        context = gx.get_context(mode="ephemeral")  # suites and batches need one; nothing is stored
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_or_update_pandas(f"o2c_{source}")
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
        checked = []
        if name in JOINED_DATES:
            key, parent, date_column = JOINED_DATES[name]
            (parent_key,) = ENTITIES[parent].primary_key
            parent_dates = pl.concat(
                [
                    warehouse.query_frame(
                        con, f'select "{parent_key}" as "{key}", "{date_column}" from "{s}"."{parent}"'
                    )
                    for s in warehouse.raw_schemas(con)
                    if warehouse.table_exists(con, s, parent)
                ]
                or [pl.DataFrame(schema={key: pl.String, date_column: pl.Date})]
            ).unique(key)
            frame = frame.join(parent_dates.rename({date_column: "_" + date_column}), on=key, how="left")
        for column, parent in [*entity.references, *LATE_REFERENCES.get(name, [])]:
            keys = warehouse.known_keys(con, parent)
            if keys.len():  # a parent no source provides cannot be checked
                unknown = pl.col(column).is_not_null() & ~pl.col(column).is_in(keys.implode())
                frame = frame.with_columns(pl.when(unknown).then(pl.col(column)).alias(UNKNOWN_PREFIX + column))
                checked.append(column)
        # Typical load size: the earlier incremental loads, not the initial backfill.
        recent = [rows for _, rows in loads[1:-1]][:10]
        suite = suite_for(entity, currencies=currencies, unknown_reference_columns=checked, recent_rows=recent)
        results.extend(_validate_frame(context, datasource, frame, suite, source, name, keep=docs_dir is not None))
    if docs_dir is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            context.build_data_docs()
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
    path: Path, sources: list[str], entities_of, *, run_id: str, full: bool = False, docs_dir: Path | None = None
) -> list[CheckResult]:
    con = warehouse.connect(path)
    try:
        results = [
            r
            for source in sources
            for r in validate_source(con, source, entities_of(source), full=full, docs_dir=docs_dir)
        ]
        record_results(con, results, run_id)
        return results
    finally:
        con.close()


# Key marts: what the CFO's numbers rest on, checked again before they are published.
MART_KEYS = {
    "fct_invoices": ["invoice_id"],
    "fct_payments": ["payment_id"],
    "fct_ar_aging": ["as_of_date", "invoice_id"],
    "dim_customers": ["customer_id"],
    "fct_ar_kpis_monthly": ["month_start"],
}


def mart_suite(name: str) -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name=f"mart_{name}")
    add = suite.add_expectation
    keys = MART_KEYS[name]
    add(gxe.ExpectTableRowCountToBeBetween(min_value=1, meta={"severity": ERROR}))
    if len(keys) == 1:
        add(gxe.ExpectColumnValuesToBeUnique(column=keys[0], meta={"severity": ERROR}))
    else:
        add(gxe.ExpectCompoundColumnsToBeUnique(column_list=keys, meta={"severity": ERROR}))
    for key in keys:
        add(gxe.ExpectColumnValuesToNotBeNull(column=key, meta={"severity": ERROR}))
    if name == "fct_invoices":
        add(gxe.ExpectColumnValuesToBeBetween(column="open_balance", min_value=0, meta={"severity": ERROR}))
        add(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="due_date", column_B="invoice_date", or_equal=True, meta={"severity": ERROR}
            )
        )
        add(gxe.ExpectColumnValuesToNotBeNull(column="invoice_amount_rc", meta={"severity": ERROR}))
    if name == "fct_payments":
        add(gxe.ExpectColumnValuesToBeBetween(column="unapplied_amount", min_value=0, meta={"severity": ERROR}))
        add(gxe.ExpectColumnValuesToNotBeNull(column="amount_rc", meta={"severity": ERROR}))
        # Cash nobody could attribute to a customer: worth a look, not a reason to stop.
        add(gxe.ExpectColumnValuesToNotBeNull(column="customer_id", mostly=0.9, meta={"severity": WARN}))
    if name == "fct_ar_aging":
        buckets = ["current", "1-30", "31-60", "61-90", "91-120", "121+"]
        add(gxe.ExpectColumnValuesToBeInSet(column="aging_bucket", value_set=buckets, meta={"severity": ERROR}))
        add(
            gxe.ExpectColumnValuesToBeBetween(
                column="open_balance", min_value=0, strict_min=True, meta={"severity": ERROR}
            )
        )
    if name == "fct_ar_kpis_monthly":
        add(
            gxe.ExpectColumnValuesToBeBetween(
                column="pct_current", min_value=0, max_value=100, meta={"severity": ERROR}
            )
        )
    return suite


def validate_marts(
    con: duckdb.DuckDBPyConnection, names: list[str], *, docs_dir: Path | None = None
) -> list[CheckResult]:
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = (
        gx.get_context(mode="file", project_root_dir=str(docs_dir)) if docs_dir else gx.get_context(mode="ephemeral")
    )
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_or_update_pandas("o2c_marts")
    results: list[CheckResult] = []
    for name in names:
        if not warehouse.table_exists(con, "marts", name):
            continue
        frame = warehouse.query_frame(con, f'select * from marts."{name}"')
        results.extend(
            _validate_frame(context, datasource, frame, mart_suite(name), "marts", name, keep=docs_dir is not None)
        )
    if docs_dir is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            context.build_data_docs()
    return results


def check_marts(path: Path, *, run_id: str, docs_dir: Path | None = None) -> list[CheckResult]:
    con = warehouse.connect(path)
    try:
        results = validate_marts(con, list(MART_KEYS), docs_dir=docs_dir)
        record_results(con, results, run_id)
        return results
    finally:
        con.close()
