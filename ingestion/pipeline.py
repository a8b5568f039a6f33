"""Ingestion: each source system into its own raw schema of the DuckDB warehouse, with dlt.

Per source: read (incrementally), conform to the contract, drop rows identical to what is
loaded, then one dlt run merges the rows on their primary keys and the quarantine on its id.
Re-running on unchanged sources therefore changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

# dlt reads its log level when first imported; our own report carries what matters.
os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
import dlt

from ingestion import sources, warehouse
from ingestion.conform import (
    QUARANTINE_SCHEMA,
    SOURCE_FILE,
    SOURCE_ROW,
    Conformed,
    SchemaDriftError,
    conform,
    file_failure,
)
from ingestion.contract import ENTITIES, ERP_ENTITIES, Entity

SOURCES = ("erp", "processor", "bank", "fx", "files")
QUARANTINE_TABLE = "quarantine"

_DLT_TYPES: dict[str, dict[str, object]] = {
    "string": {"data_type": "text"},
    "int": {"data_type": "bigint"},
    "money": {"data_type": "decimal", "precision": 18, "scale": 2},
    "rate": {"data_type": "decimal", "precision": 18, "scale": 8},
    "date": {"data_type": "date"},
    "timestamp": {"data_type": "timestamp", "timezone": False},
    "bool": {"data_type": "bool"},
}
# Raw tables are typed by the contract; a column whose type drifts is a load error, not a cast.
SCHEMA_CONTRACT = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}


@dataclass(frozen=True)
class IngestConfig:
    warehouse: Path
    dlt_dir: Path
    erp_url: str
    landing: Path
    contract_dir: Path | None = None
    lookback: dt.timedelta = dt.timedelta(hours=24)


@dataclass
class EntityResult:
    source: str
    entity: str
    rows_in: int = 0
    rows_loaded: int = 0  # new or changed rows merged into the raw table
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    files_read: int = 0
    files_failed: int = 0
    watermark_from: dt.datetime | None = None
    watermark_to: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class SourceReport:
    source: str
    schema: str
    load_id: str
    entities: list[EntityResult]
    dlt_row_counts: dict[str, int]  # rows dlt normalized per table, from its load info
    dlt_load_id: str | None


def column_hints(entity: Entity, extras: list[str]) -> dict[str, dict[str, object]]:
    hints = {
        c.name: {**_DLT_TYPES[c.type], "nullable": not c.required and c.name not in entity.primary_key}
        for c in entity.columns
    }
    hints.update({name: {"data_type": "text", "nullable": True} for name in [*extras, SOURCE_FILE]})
    return hints


@dataclass
class _Batch:
    """Everything one source produced for one entity before loading."""

    entity: Entity
    parts: list[pl.DataFrame] = field(default_factory=list)  # text rows per file
    quarantine: list[pl.DataFrame] = field(default_factory=list)
    result: EntityResult | None = None
    conformed: Conformed | None = None


def _reject_file(frame: pl.DataFrame, source: str, entity: str, reason: str, column: str | None) -> pl.DataFrame:
    """Every row of a file that cannot load as a whole, each kept with the file-level reason."""
    data = [c for c in frame.columns if c not in (SOURCE_FILE, SOURCE_ROW)]
    return frame.select(
        pl.lit(source).alias("source"),
        pl.lit(entity).alias("entity"),
        pl.col(SOURCE_FILE).alias("file"),
        pl.col(SOURCE_ROW).alias("row_number"),
        pl.lit(column).alias("column_name"),
        pl.lit(None, pl.String).alias("value"),
        pl.lit(reason).alias("reason"),
        pl.struct(data).struct.json_encode().alias("record"),
    ).cast(QUARANTINE_SCHEMA)


def _read_files(
    source: str,
    root: Path,
    suffixes: tuple[str, ...],
    entity_of: Callable[[Path], str | None],
    to_contract: Callable[[pl.DataFrame], pl.DataFrame],
    required_source_columns: tuple[str, ...],
    seen: dict[str, str],
    batch_for: Callable[[str], _Batch],
    manifest: list[dict[str, object]],
) -> None:
    readers = {".csv": sources.read_csv_file, ".jsonl": sources.read_jsonl_file, ".parquet": sources.read_parquet_file}
    for path in sources.discover(root, suffixes):
        rel = str(path.relative_to(root))
        name = entity_of(path)
        if name is None:
            continue
        batch = batch_for(name)
        file = readers[path.suffix.lower()](path, root)
        if seen.get(rel) == file.sha256:
            continue  # loaded before and unchanged
        result = batch.result
        result.files_read += 1
        quarantined_before = sum(q.height for q in batch.quarantine)
        if file.error is not None:
            batch.quarantine.append(
                file_failure(
                    source,
                    name,
                    rel,
                    f"unreadable or not a {source} file: {file.error}",
                    path.read_text(errors="replace"),
                )
            )
            result.errors.append(f"{source}: {rel}: {file.error}")
            result.files_failed += 1
        elif file.rows is not None or file.bad_lines is not None:
            if file.bad_lines is not None and file.bad_lines.height:
                batch.quarantine.append(
                    file.bad_lines.select(
                        pl.lit(source).alias("source"),
                        pl.lit(name).alias("entity"),
                        pl.lit(rel).alias("file"),
                        "row_number",
                        pl.lit(None, pl.String).alias("column_name"),
                        pl.col("content").str.slice(0, 200).alias("value"),
                        pl.lit("invalid JSON: the line is not a complete JSON object").alias("reason"),
                        pl.col("content").alias("record"),
                    ).cast(QUARANTINE_SCHEMA)
                )
            rows = file.rows
            if rows is not None and (rows.height or len(rows.columns) > 2):
                missing = [c for c in required_source_columns if c not in rows.columns]
                mapped = None if missing else to_contract(rows)
                if mapped is not None:
                    missing = [c.name for c in batch.entity.columns if c.required and c.name not in mapped.columns]
                if missing:
                    if required_source_columns and set(missing) == set(required_source_columns):
                        first_line = path.read_text(errors="replace").split("\n", 1)[0][:80]
                        message, column = (
                            (
                                f"{source}: file {rel} for entity {name} is unreadable or not a {source} file: none of "
                                f"the columns {list(required_source_columns)} is present (first line: {first_line!r})"
                            ),
                            None,
                        )
                    else:
                        message, column = str(SchemaDriftError(source, name, rel, missing[0])), missing[0]
                    rejected = _reject_file(rows, source, name, message, column)
                    if rejected.height == 0:  # not even one row: keep the file's content instead
                        rejected = file_failure(source, name, rel, message, path.read_text(errors="replace"), column)
                    batch.quarantine.append(rejected)
                    result.errors.append(message)
                    result.files_failed += 1
                elif mapped.height:
                    batch.parts.append(mapped)
        quarantined = sum(q.height for q in batch.quarantine) - quarantined_before
        file_rows = (file.rows.height if file.rows is not None else 0) + (
            file.bad_lines.height if file.bad_lines is not None else 0
        )
        manifest.append(
            {
                "file": rel,
                "sha256": file.sha256,
                "entity": name,
                "rows_in": max(file_rows, quarantined),
                "rows_quarantined": quarantined,
                "error": file.error,
            }
        )


def _collect(source: str, config: IngestConfig, con, schema: str) -> tuple[dict[str, _Batch], list[dict[str, object]]]:
    batches: dict[str, _Batch] = {}
    manifest: list[dict[str, object]] = []

    def batch_for(name: str) -> _Batch:
        if name not in batches:
            batches[name] = _Batch(ENTITIES[name], result=EntityResult(source, name))
        return batches[name]

    if source == "erp":
        for name in ERP_ENTITIES:
            entity = ENTITIES[name]
            batch = batch_for(name)
            mark = warehouse.watermark(con, schema, entity)
            since = mark - config.lookback if mark is not None else None
            batch.result.watermark_from = since
            batch.parts.append(sources.read_erp_table(config.erp_url, name, since))
        return batches, manifest

    seen = warehouse.loaded_files(con, schema)
    if source == "processor":
        _read_files(
            source,
            config.landing / "processor",
            (".jsonl", ".json"),
            lambda p: "payments",
            sources.processor_to_contract,
            ("id", "amount", "currency", "created"),
            seen,
            batch_for,
            manifest,
        )
    elif source == "bank":
        _read_files(
            source,
            config.landing / "bank",
            (".csv",),
            lambda p: "payments",
            sources.bank_to_contract,
            sources.BANK_REQUIRED,
            seen,
            batch_for,
            manifest,
        )
    elif source == "fx":
        _read_files(
            source,
            config.landing / "fx",
            (".csv", ".parquet"),
            lambda p: "fx_rates",
            lambda f: f,
            (),
            seen,
            batch_for,
            manifest,
        )
    elif source == "files":
        if config.contract_dir is not None:
            root = config.contract_dir
            _read_files(
                source,
                root,
                (".csv", ".parquet"),
                lambda p: sources.contract_entity_of(p, root),
                lambda f: f,
                (),
                seen,
                batch_for,
                manifest,
            )
    else:
        raise ValueError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    return batches, manifest


def _quarantine_ids(frame: pl.DataFrame) -> pl.Series:
    text = frame.select(
        pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in QUARANTINE_SCHEMA], separator="\x1f")
    ).to_series()
    return pl.Series("quarantine_id", [hashlib.sha256(t.encode()).hexdigest()[:32] for t in text], pl.String)


def ingest_source(source: str, config: IngestConfig, load_id: str) -> SourceReport:
    schema = f"raw_{source}"
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con = warehouse.connect(config.warehouse)
    try:
        batches, manifest = _collect(source, config, con, schema)
        run_keys: dict[str, pl.Series] = {}
        for name in ENTITIES:  # parents before children, so references can be checked
            batch = batches.get(name)
            if batch is None:
                continue
            entity = batch.entity
            frames = [p for p in batch.parts if p.height or p.width]
            text = pl.concat(frames, how="diagonal") if frames else None
            references = {}
            for column, parent in entity.references:
                keys = pl.concat(
                    [warehouse.known_keys(con, parent), run_keys.get(parent, pl.Series("k", [], pl.String))]
                )
                # A parent entity that no source provides cannot be checked (e.g. a folder
                # with invoices but no orders); the data-quality checks report its absence.
                if keys.len():
                    references[column] = (keys, f"unknown {parent.removesuffix('s')} (not in {parent})")
            if text is not None and text.height:
                try:
                    conformed = conform(text, entity, source=source, known_keys=references)
                except SchemaDriftError as error:  # the ERP table itself lacks a required column
                    conformed = Conformed(
                        text.clear().select([]), _reject_file(text, source, name, str(error), error.column)
                    )
                    batch.result.errors.append(str(error))
                batch.quarantine.append(conformed.quarantine)
                batch.result.warnings.extend(conformed.warnings)
                rows = conformed.rows
            else:
                rows = pl.DataFrame()
            if rows.width:
                (key,) = entity.primary_key if len(entity.primary_key) == 1 else (None,)
                if key is not None:
                    run_keys[name] = rows[key]
                changed = warehouse.drop_unchanged(con, schema, entity, rows)
                batch.result.rows_unchanged = rows.height - changed.height
                batch.result.watermark_to = rows[entity.cursor].max() if rows.height else None
            else:
                changed = rows
            batch.conformed = Conformed(
                changed, pl.concat(batch.quarantine) if batch.quarantine else pl.DataFrame(schema=QUARANTINE_SCHEMA)
            )
            batch.result.rows_quarantined = batch.conformed.quarantine.height
            batch.result.rows_loaded = changed.height
            batch.result.rows_in = rows.height + batch.result.rows_quarantined

        quarantine = (
            pl.concat([b.conformed.quarantine for b in batches.values() if b.conformed is not None])
            if batches
            else pl.DataFrame(schema=QUARANTINE_SCHEMA)
        )
        if quarantine.height:
            quarantine = quarantine.with_columns(_quarantine_ids(quarantine)).unique(
                "quarantine_id", keep="first", maintain_order=True
            )
            if warehouse.table_exists(con, schema, QUARANTINE_TABLE):
                already = warehouse.query_frame(con, f'select quarantine_id from "{schema}".{QUARANTINE_TABLE}')[
                    "quarantine_id"
                ]
                quarantine = quarantine.filter(~pl.col("quarantine_id").is_in(already.implode()))
            quarantine = quarantine.with_columns(
                pl.lit(load_id).alias("load_id"), pl.lit(started).alias("quarantined_at")
            )
    finally:
        con.close()

    resources = []
    for name, batch in batches.items():
        rows = batch.conformed.rows if batch.conformed else pl.DataFrame()
        if rows.height:
            extras = [c for c in rows.columns if c not in batch.entity.column_names and c != SOURCE_FILE]
            resources.append(
                dlt.resource(
                    rows.to_arrow(),
                    name=name,
                    table_name=name,
                    write_disposition="merge",
                    primary_key=list(batch.entity.primary_key),
                    columns=column_hints(batch.entity, extras),
                    schema_contract=SCHEMA_CONTRACT,
                )
            )
    if quarantine.height:
        resources.append(
            dlt.resource(
                quarantine.to_arrow(),
                name=QUARANTINE_TABLE,
                write_disposition="merge",
                primary_key="quarantine_id",
                columns={
                    "row_number": {"data_type": "bigint"},
                    "quarantined_at": {"data_type": "timestamp", "timezone": False},
                },
            )
        )
    row_counts: dict[str, int] = {}
    dlt_load_id = None
    if resources:
        pipeline = dlt.pipeline(
            pipeline_name=f"o2c_{source}",
            destination=dlt.destinations.duckdb(str(config.warehouse)),
            dataset_name=schema,
            pipelines_dir=str(config.dlt_dir),
        )
        info = pipeline.run(resources)
        row_counts = {
            k: v for k, v in pipeline.last_trace.last_normalize_info.row_counts.items() if not k.startswith("_dlt")
        }
        dlt_load_id = info.loads_ids[0] if info.loads_ids else None

    finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con = warehouse.connect(config.warehouse)
    try:
        results = [b.result for b in batches.values()]
        warehouse.record_load(
            con,
            schema,
            pl.DataFrame(
                [
                    {
                        "load_id": load_id,
                        "source": source,
                        "entity": r.entity,
                        "started_at": started,
                        "finished_at": finished,
                        "rows_in": r.rows_in,
                        "rows_loaded": r.rows_loaded,
                        "rows_unchanged": r.rows_unchanged,
                        "rows_quarantined": r.rows_quarantined,
                        "files_read": r.files_read,
                        "files_failed": r.files_failed,
                        "watermark_from": r.watermark_from,
                        "watermark_to": r.watermark_to,
                        "dlt_load_id": dlt_load_id,
                    }
                    for r in results
                ],
                schema={
                    "load_id": pl.String,
                    "source": pl.String,
                    "entity": pl.String,
                    "started_at": pl.Datetime("us"),
                    "finished_at": pl.Datetime("us"),
                    "rows_in": pl.Int64,
                    "rows_loaded": pl.Int64,
                    "rows_unchanged": pl.Int64,
                    "rows_quarantined": pl.Int64,
                    "files_read": pl.Int64,
                    "files_failed": pl.Int64,
                    "watermark_from": pl.Datetime("us"),
                    "watermark_to": pl.Datetime("us"),
                    "dlt_load_id": pl.String,
                },
            ),
        )
        warehouse.record_files(
            con,
            schema,
            pl.DataFrame(
                [{**m, "load_id": load_id, "loaded_at": finished} for m in manifest],
                schema={
                    "file": pl.String,
                    "sha256": pl.String,
                    "entity": pl.String,
                    "rows_in": pl.Int64,
                    "rows_quarantined": pl.Int64,
                    "error": pl.String,
                    "load_id": pl.String,
                    "loaded_at": pl.Datetime("us"),
                },
            ),
        )
    finally:
        con.close()
    return SourceReport(source, schema, load_id, results, row_counts, dlt_load_id)


def new_load_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def ingest(config: IngestConfig, selected: list[str] | None = None) -> list[SourceReport]:
    """Load the selected sources (all by default), ERP first so references resolve."""
    load_id = new_load_id()
    chosen = [s for s in SOURCES if selected is None or s in selected]
    unknown = set(selected or []) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; choose from {', '.join(SOURCES)}")
    if "files" in chosen and config.contract_dir is None and selected is None:
        chosen.remove("files")
    return [ingest_source(s, config, load_id) for s in chosen]
