"""Ingestion: each source system into its own raw schema of the DuckDB warehouse, with dlt.

Per source: extract (incrementally), conform to the contract, drop rows identical to what is
loaded, then one dlt run merges the rows on their primary keys and the quarantine on its id.
Re-running on unchanged sources therefore changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import sqlalchemy as sa

# dlt reads its log level when first imported; our own report carries what matters.
os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
# dlt sends anonymous usage events (each pipeline's extract, normalize, load and run) to dlthub
# unless told not to. A company's ledger is loaded here: nothing leaves the machine unasked, as
# with dbt, Dagster and Streamlit. RUNTIME__DLTHUB_TELEMETRY=true turns it back on.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# dlt's settings folder: ours holds an empty secrets.toml, without which dlt imports Streamlit to
# look for secrets there (dlt_settings/.dlt/secrets.toml says more).
os.environ.setdefault("DLT_PROJECT_DIR", str(Path(__file__).parent / "dlt_settings"))
import dlt

from core import db
from core.errors import in_plain_words
from ingestion import sources, warehouse
from ingestion.conform import (
    LINEAGE,
    QUARANTINE_SCHEMA,
    SOURCE_FILE,
    SOURCE_ROW,
    SchemaDriftError,
    conform,
    file_failure,
    missing_required,
)
from ingestion.contract import ENTITIES, ERP_ENTITIES, Entity
from ingestion.mapping import MappedColumn, Mapping, MappingError, load_mapping
from ingestion.spill import SpilledRows

if TYPE_CHECKING:
    from core.settings import Settings

SOURCES = ("erp", "processor", "bank", "fx", "ops", "files")
# Sources read from a database (through ADBC for SQLite and PostgreSQL, else SQLAlchemy), and the
# entities each lands.
SQL_SOURCES: dict[str, tuple[str, ...]] = {
    "erp": ERP_ENTITIES,
    "ops": ("collection_actions", "manual_cash_applications"),
}
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


class SourceUnavailable(RuntimeError):
    """A configured source that cannot be read (a missing file or folder, a host that does not
    answer): one line naming the setting and the path or host. Retrying will not help."""


@dataclass(frozen=True)
class IngestConfig:
    warehouse: Path
    dlt_dir: Path
    # None: no ERP database is configured (O2C_ERP_URL unset and no default SQLite file), skipped.
    erp_url: str | None
    landing: Path
    contract_dir: Path | None = None
    lookback: dt.timedelta = dt.timedelta(hours=24)
    # The collections ops store (the dashboards' worklist writes there); None: no actions yet.
    ops_url: str | None = None
    # Rows of one entity held in memory before the rest goes to disk (a first load of a large ERP).
    spill_rows: int = 1_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestConfig:
        """The configuration the O2C_* settings describe (read when called, not when imported)."""
        return cls(
            warehouse=settings.warehouse,
            dlt_dir=settings.dlt_dir,
            erp_url=settings.erp_if_configured(),
            landing=settings.landing,
            contract_dir=settings.contract_dir,
            lookback=dt.timedelta(hours=settings.incremental_lookback_hours),
            ops_url=settings.ops(),
        )


@dataclass(frozen=True)
class FileSource:
    """A folder of files, how to tell their entity, and how to map their layout to the contract."""

    folder: Callable[[IngestConfig], Path | None]
    suffixes: tuple[str, ...]
    entity_of: Callable[[Path, Path], str | None]
    # (the file's rows as text, the entity) → rows in the contract's column names
    to_contract: Callable[[pl.DataFrame, str], pl.DataFrame] = lambda frame, entity: frame
    # Columns of the source's own layout without which a file cannot be one of its files.
    required_columns: tuple[str, ...] = ()
    # Entities the source always lands: their raw tables exist (maybe empty) after a load.
    entities: tuple[str, ...] = ()
    # A file without the cursor column (or a blank value) is a snapshot as of its modification time.
    stamp_missing_cursor: bool = False
    # (rows, entity) → the mapped export headers the file lacks (the mapping file of a folder).
    missing_columns: Callable[[pl.DataFrame, str], list[MappedColumn]] = lambda frame, entity: []

    # Part of every file's fingerprint: a changed mapping file makes every file load again.
    fingerprint: str = ""
    # entity → (delimiter, encoding) of its CSV files
    csv_options: Callable[[str], tuple[str, str]] = lambda entity: (",", "utf-8")
    # entity → what its dates and timestamps must look like, where the source declares its own forms
    format_labels: Callable[[str], dict[str, str]] = lambda entity: {}

    def with_mapping(self, mapping: Mapping) -> FileSource:
        """This source read through a folder's mapping file: its globs say which file holds which
        entity (the name rule otherwise), and its renames and formats apply before conforming."""
        return dataclasses.replace(
            self,
            entity_of=lambda path, root: mapping.entity_of(path, root) or self.entity_of(path, root),
            to_contract=mapping.apply,
            missing_columns=mapping.missing_columns,
            csv_options=mapping.csv_options,
            format_labels=mapping.format_labels,
            fingerprint=hashlib.sha256(mapping.path.read_bytes()).hexdigest() if mapping.path else "",
        )


FILE_SOURCES: dict[str, FileSource] = {
    "processor": FileSource(
        lambda c: c.landing / "processor",
        (".jsonl", ".json"),
        lambda path, root: "payments",
        lambda frame, entity: sources.processor_to_contract(frame),
        sources.PROCESSOR_REQUIRED,
        ("payments",),
    ),
    "bank": FileSource(
        lambda c: c.landing / "bank",
        (".csv",),
        lambda path, root: "payments",
        lambda frame, entity: sources.bank_to_contract(frame),
        sources.BANK_REQUIRED,
        ("payments",),
    ),
    "fx": FileSource(
        lambda c: c.landing / "fx", (".csv", ".parquet"), lambda path, root: "fx_rates", entities=("fx_rates",)
    ),
    "files": FileSource(
        lambda c: c.contract_dir, (".csv", ".parquet"), sources.contract_entity_of, stamp_missing_cursor=True
    ),
}


@dataclass
class EntityResult:
    source: str
    entity: str
    rows_in: int = 0  # counted when read: rows of the tables or files (unreadable file = 1)
    rows_new: int = 0
    rows_updated: int = 0  # merged over an existing row with the same key
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    files_read: int = 0
    files_failed: int = 0
    watermark_from: dt.datetime | None = None
    watermark_to: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return self.rows_new + self.rows_updated


@dataclass
class SourceReport:
    source: str
    schema: str
    load_id: str
    entities: list[EntityResult]
    dlt_row_counts: dict[str, int]  # rows dlt normalized per table, from its load info
    dlt_load_id: str | None


@dataclass
class _Batch:
    """What one source produced for one entity, from extraction to load."""

    entity: Entity
    result: EntityResult
    parts: SpilledRows  # text rows, per file or chunk of a table read
    rows: SpilledRows  # typed rows to merge
    quarantine: list[pl.DataFrame] = field(default_factory=list)
    # column type → the form its values must have, where the source declares its own (a mapping file)
    format_labels: dict[str, str] = field(default_factory=dict)


def column_hints(entity: Entity, extras: list[str]) -> dict[str, dict[str, object]]:
    hints = {
        c.name: {**_DLT_TYPES[c.type], "nullable": not c.required and c.name not in entity.primary_key}
        for c in entity.columns
    }
    hints.update({name: {"data_type": "text", "nullable": True} for name in [*extras, SOURCE_FILE]})
    return hints


def _quarantine_rows(frame: pl.DataFrame, source: str, entity: str, reason: str, column: str | None) -> pl.DataFrame:
    """Every row of `frame` as a quarantine record with one reason (a file that cannot load)."""
    data = [c for c in frame.columns if c not in LINEAGE]
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


def _bad_lines(lines: pl.DataFrame, source: str, entity: str, file: str) -> pl.DataFrame:
    """Lines of a file that are no row at all (not JSON, too many or too few fields), each with its reason."""
    return lines.select(
        pl.lit(source).alias("source"),
        pl.lit(entity).alias("entity"),
        pl.lit(file).alias("file"),
        "row_number",
        pl.lit(None, pl.String).alias("column_name"),
        pl.col("content").str.slice(0, 200).alias("value"),
        "reason",
        pl.col("content").alias("record"),
    ).cast(QUARANTINE_SCHEMA)


def _missing_columns_message(
    source: str, spec: FileSource, batch: _Batch, file: str, missing: list[str], first_line: str
) -> tuple[str, str | None]:
    if spec.required_columns and set(missing) == set(spec.required_columns):
        return (
            f"{source}: file {file} for entity {batch.entity.name} is unreadable or not a {source} file: none of "
            f"the columns {list(spec.required_columns)} is present (first line: {first_line[:80]!r})",
            None,
        )
    return str(SchemaDriftError(source, batch.entity.name, file, missing[0])), missing[0]


def _read_file(spec: FileSource, path: Path, root: Path, entity: str) -> sources.FileBatch:
    """The file's rows, by its format; its digest covers the mapping too (`spec.fingerprint`), so
    a changed mapping reloads an unchanged file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        file = sources.read_csv_file(path, root, *spec.csv_options(entity))
    elif suffix in (".jsonl", ".json"):
        file = sources.read_jsonl_file(path, root)
    else:
        file = sources.read_parquet_file(path, root)
    file.sha256 = _with_mapping(file.sha256, spec)
    return file


def _with_mapping(digest: str, spec: FileSource) -> str:
    return hashlib.sha256(f"{digest}:{spec.fingerprint}".encode()).hexdigest() if spec.fingerprint else digest


def _read_one_file(source: str, spec: FileSource, path: Path, root: Path, batch: _Batch) -> dict[str, object]:
    """Read one new or changed file into `batch` (rows, or quarantine records); its manifest row."""
    file = _read_file(spec, path, root, batch.entity.name)
    source_name, result = batch.entity.name, batch.result
    result.files_read += 1
    quarantine: list[pl.DataFrame] = []
    failed = file.error is not None
    if file.error is not None:
        message = (
            f"{source}: file {file.file} for entity {source_name} is unreadable or not a {source} file: {file.error}"
        )
        quarantine.append(file_failure(source, source_name, file.file, message, path.read_text(errors="replace")))
        result.errors.append(message)
    if file.bad_lines is not None and file.bad_lines.height:
        quarantine.append(_bad_lines(file.bad_lines, source, source_name, file.file))
    result.warnings.extend(f"{source}: file {file.file}: {warning}" for warning in file.warnings)
    rows = file.rows
    # A header-only CSV still tells its columns; an empty JSON-lines file tells nothing.
    if rows is not None and (rows.height or len(rows.columns) > 2):
        missing = [c for c in spec.required_columns if c not in rows.columns]
        unmapped = spec.missing_columns(rows, source_name)
        for column in unmapped:
            result.warnings.append(
                f"{source}: file {file.file}: mapped column {column.export!r} (→ {column.contract}) is not in the file"
            )
        mapped = None if missing else spec.to_contract(rows, source_name)
        if mapped is not None and spec.stamp_missing_cursor:
            mapped = _stamped(mapped, batch.entity, {file.file: path})
        if mapped is not None:
            missing = missing_required(batch.entity, mapped.columns)
        if missing:
            first_line = path.read_text(errors="replace").split("\n", 1)[0]
            message, column = _missing_columns_message(source, spec, batch, file.file, missing, first_line)
            rejected = _quarantine_rows(rows, source, source_name, message, column)
            if rejected.height == 0:  # not even one row: keep the file's content instead
                rejected = file_failure(
                    source, source_name, file.file, message, path.read_text(errors="replace"), column
                )
            quarantine.append(rejected)
            result.errors.append(message)
            failed = True
        elif mapped.height:
            batch.parts.add(mapped)
    result.files_failed += failed
    batch.quarantine.extend(quarantine)
    quarantined = sum(q.height for q in quarantine)
    rows_in = (rows.height if rows is not None else 0) + (file.bad_lines.height if file.bad_lines is not None else 0)
    return {
        "file": file.file,
        "sha256": file.sha256,
        "entity": source_name,
        "rows_in": max(rows_in, quarantined),
        "rows_quarantined": quarantined,
        "error": file.error,
    }


def _modified(path: Path) -> str:
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None)
    return modified.isoformat(sep=" ", timespec="seconds")


def _stamped(frame: pl.DataFrame, entity: Entity, paths: dict[str, Path]) -> pl.DataFrame:
    """Blank or missing cursor values become their file's modification time (UTC; `paths` by
    SOURCE_FILE): a company's export rarely says when each row last changed, and an unchanged file
    keeps its stamp."""
    stamps = {file: _modified(path) for file, path in paths.items()}
    stamp = pl.col(SOURCE_FILE).replace_strict(stamps, return_dtype=pl.String)
    if entity.cursor not in frame.columns:
        return frame.with_columns(stamp.alias(entity.cursor))
    text = pl.col(entity.cursor).cast(pl.String).str.strip_chars()
    return frame.with_columns(pl.when(text.is_null() | (text == "")).then(stamp).otherwise(text).alias(entity.cursor))


def _spill_dir(config: IngestConfig, source: str) -> Path:
    return config.dlt_dir / "spill" / source


def configured_sources(config: IngestConfig) -> list[str]:
    """The sources this installation has: an ERP URL, landing folders that exist, a contract
    folder. The ops store is always there (empty until a collector acts). Others are skipped."""
    present = {
        "erp": config.erp_url is not None,
        "processor": (config.landing / "processor").is_dir(),
        "bank": (config.landing / "bank").is_dir(),
        "fx": (config.landing / "fx").is_dir(),
        "ops": True,
        "files": config.contract_dir is not None,
    }
    return [s for s in SOURCES if present[s]]


def _how_to_configure(source: str, config: IngestConfig) -> str:
    if source == "erp":
        return "set O2C_ERP_URL to the ERP database's SQLAlchemy URL"
    if source == "files":
        return "set O2C_CONTRACT_DIR to the folder of export files"
    return f"no folder {config.landing / source} (O2C_SOURCES_DIR)"


def _describe_url(url: sa.URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"the SQLite file {url.database}"
    return f"{url.get_backend_name()} at {url.host or 'localhost'}:{url.port or 'default port'}/{url.database or ''}"


def connect_sql(source: str, url: str) -> sa.Engine:
    """An engine on a configured source database, or SourceUnavailable naming the setting.
    Public: `o2c doctor` checks a connection with it, so its message is the same as a load's."""
    setting = "O2C_ERP_URL" if source == "erp" else "O2C_OPS_URL"
    parsed = sa.engine.make_url(url)
    if _missing_sqlite_file(url):
        raise SourceUnavailable(f"{source}: {setting} points at {_describe_url(parsed)}, which does not exist")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        _check_sqlite_file(source, setting, Path(parsed.database))
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except Exception as error:  # the driver's own error types differ per database
        engine.dispose()
        reason = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise SourceUnavailable(
            f"{source}: cannot connect to {_describe_url(parsed)} ({setting}): {in_plain_words(reason)[:200]}"
        ) from error
    return engine


def _check_sqlite_file(source: str, setting: str, path: Path) -> None:
    """A SQLite source opened read-only (mode=ro never creates a file, whatever the path) and its
    header read: a file that is not a database fails here, once, not on every retry of the load."""
    try:
        con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            con.execute("select count(*) from sqlite_master").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as error:
        raise SourceUnavailable(f"{source}: corrupt database file at {path} ({setting}): {error}") from error


def check_contract_dir(config: IngestConfig) -> Path:
    folder = config.contract_dir
    if folder is None or not folder.is_dir():
        what = "does not exist" if folder is None or not folder.exists() else "is not a folder"
        raise SourceUnavailable(f"files: O2C_CONTRACT_DIR points at {folder}, which {what}")
    return folder


def extract(source: str, config: IngestConfig, con, schema: str) -> tuple[dict[str, _Batch], list[dict[str, object]]]:
    batches: dict[str, _Batch] = {}

    def batch_for(name: str) -> _Batch:
        if name not in batches:
            folder = _spill_dir(config, source) / name
            batches[name] = _Batch(
                ENTITIES[name],
                EntityResult(source, name),
                parts=SpilledRows(folder / "text", config.spill_rows, list(ENTITIES[name].primary_key)),
                rows=SpilledRows(folder / "rows", config.spill_rows),
            )
        return batches[name]

    if source in SQL_SOURCES:
        _extract_sql(source, config, con, schema, batch_for)
        return batches, []
    if source not in FILE_SOURCES:
        raise ValueError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    manifest = _extract_files(source, config, con, schema, batch_for)
    return batches, manifest


# Tables of a source database read at once (each over its own connection).
SQL_READERS = 2


def _extract_sql(source: str, config: IngestConfig, con, schema: str, batch_for: Callable[[str], _Batch]) -> None:
    """Each table of a source database into its batch, from the entity's watermark less the look-back."""
    for name in SQL_SOURCES[source]:
        batch_for(name)
    url = config.erp_url if source == "erp" else config.ops_url
    if url is None or (source == "ops" and _missing_sqlite_file(url)):
        return  # not configured, or no ops store yet: nobody has logged an action
    engine = connect_sql(source, url)
    try:
        present = set(sa.inspect(engine).get_table_names())
        reads: list[tuple[_Batch, dt.datetime | None]] = []
        for name in SQL_SOURCES[source]:
            batch = batch_for(name)
            if name not in present:
                # Optional entities may be absent (an ERP without disputes, an ops store
                # nobody has written to); a required one is an error the run reports.
                if batch.entity.required and source == "erp":
                    batch.result.errors.append(
                        f"{source}: the database ({_describe_url(engine.url)}) has no table {name!r}, "
                        f"which the contract requires"
                    )
                continue
            mark = warehouse.watermark(con, schema, batch.entity)
            since = mark - config.lookback if mark is not None else None
            batch.result.watermark_from = since
            reads.append((batch, since))

        def read(batch: _Batch, since: dt.datetime | None) -> None:
            for part in sources.read_sql_table(engine, source, batch.entity.name, since, loaded_at=_utc_now()):
                batch.parts.add(part)
                batch.result.rows_in += part.height

        # The database driver reads a table on its own core (ADBC hands over Arrow batches without
        # holding Python's lock), so two tables are read at once, each into its own batch: the ERP
        # at m, its extract step 9.5 s -> 6.6 s (docs/performance.md).
        with ThreadPoolExecutor(max_workers=SQL_READERS) as readers:
            for done in [readers.submit(read, batch, since) for batch, since in reads]:
                done.result()  # a table that could not be read fails the load, as before
    finally:
        engine.dispose()


def _extract_files(
    source: str, config: IngestConfig, con, schema: str, batch_for: Callable[[str], _Batch]
) -> list[dict[str, object]]:
    """Each new or changed file of a file source into its entity's batch; the manifest rows of the files read."""
    spec = FILE_SOURCES[source]
    for name in spec.entities:
        batch_for(name)
    root = check_contract_dir(config) if source == "files" else spec.folder(config)
    if root is None:
        return []
    if source == "files":
        try:
            spec = spec.with_mapping(load_mapping(root) or Mapping.empty())
        except MappingError as error:  # a wrong mapping file: nothing in the folder can load as meant
            raise SourceUnavailable(f"files: {error}") from error
    seen = warehouse.loaded_files(con, schema)
    # A file loaded before is hashed first: parsing it only to find it unchanged made a day's
    # ingestion parse every file of the source's history again.
    to_read: dict[str, list[Path]] = {}
    for path in sources.discover(root, spec.suffixes):
        name = spec.entity_of(path, root)
        if name is not None:
            batch_for(name)
            digest_seen = seen.get(str(path.relative_to(root)))
            if digest_seen is None or _with_mapping(sources.sha256_of(path), spec) != digest_seen:
                to_read.setdefault(name, []).append(path)
    manifest: list[dict[str, object]] = []
    for name, paths in to_read.items():
        batch = batch_for(name)
        batch.format_labels = spec.format_labels(name)
        groups, alone = _read_together(spec, paths, root, name)
        for group in groups:
            rows = _add_group(spec, group, root, batch)
            if rows is None:  # not one of the source's layouts: each file says what it lacks
                alone.extend(root / file for file in group.files)
            manifest.extend(rows or [])
        manifest.extend(_read_one_file(source, spec, path, root, batch) for path in sorted(alone))
    for row in manifest:
        batch_for(str(row["entity"])).result.rows_in += int(row["rows_in"])
    return manifest


def _read_together(
    spec: FileSource, paths: list[Path], root: Path, entity: str
) -> tuple[list[sources.FileGroup], list[Path]]:
    """An entity's CSV and JSON-lines files of one layout in one pass each; the rest one by one."""
    csv_files = [p for p in paths if p.suffix.lower() == ".csv"]
    jsonl_files = [p for p in paths if p.suffix.lower() in (".jsonl", ".json")]
    csv_groups, csv_alone = sources.read_csv_files(csv_files, root, *spec.csv_options(entity))
    jsonl_groups, jsonl_alone = sources.read_jsonl_files(jsonl_files, root, spec.required_columns)
    others = [p for p in paths if p not in set(csv_files) | set(jsonl_files)]
    return csv_groups + jsonl_groups, csv_alone + jsonl_alone + others


def _add_group(spec: FileSource, group: sources.FileGroup, root: Path, batch: _Batch) -> list[dict] | None:
    """A group of files read together into `batch`; their manifest rows. None when the group
    lacks a column the source or the contract requires: then each file is read and reported alone
    (`_read_one_file`), as the files of one layout would all be."""
    name, rows = batch.entity.name, group.rows
    if any(c not in rows.columns for c in spec.required_columns) or spec.missing_columns(rows, name):
        return None
    mapped = spec.to_contract(rows, name)
    if spec.stamp_missing_cursor:
        mapped = _stamped(mapped, batch.entity, {file: root / file for file in group.files})
    if missing_required(batch.entity, mapped.columns):
        return None
    if mapped.height:
        batch.parts.add(mapped)
    batch.result.files_read += len(group.files)
    counts = dict(rows.group_by(SOURCE_FILE).len().iter_rows())
    return [
        {
            "file": file,
            "sha256": _with_mapping(digest, spec),
            "entity": name,
            "rows_in": counts.get(file, 0),
            "rows_quarantined": 0,
            "error": None,
        }
        for file, digest in zip(group.files, group.digests, strict=True)
    ]


def _missing_sqlite_file(url: str) -> bool:
    parsed = sa.engine.make_url(url)
    return parsed.get_backend_name() == "sqlite" and bool(parsed.database) and not Path(parsed.database).exists()


class KnownKeys:
    """Keys of parent entities: in the warehouse (any raw schema) or conformed earlier this run."""

    def __init__(self, con) -> None:
        self._con = con
        self._cache: dict[str, pl.Series] = {}
        self._added: dict[str, list[pl.Series]] = {}  # merged when next asked for, not per bucket

    def get(self, entity: str) -> pl.Series:
        if entity not in self._cache:
            self._cache[entity] = warehouse.known_keys(self._con, entity)
        if self._added.get(entity):
            self._cache[entity] = pl.concat([self._cache[entity], *self._added.pop(entity)]).unique()
        return self._cache[entity]

    def add(self, entity: str, keys: pl.Series) -> None:
        self._added.setdefault(entity, []).append(keys.rename("k"))


def _references(entity: Entity, known: KnownKeys) -> dict[str, tuple[pl.Series, str]]:
    references = {}
    for column, parent in entity.references:
        keys = known.get(parent)
        # A parent entity that no source provides cannot be checked (e.g. a folder with
        # invoices but no orders); the data-quality checks report its absence.
        if keys.len():
            references[column] = (keys, f"unknown {parent.removesuffix('s')} (not in {parent})")
    return references


def conform_batch(batch: _Batch, source: str, con, schema: str, known: KnownKeys) -> None:
    """Conform the batch's text rows bucket by bucket (one bucket unless they were spilled)."""
    entity, result = batch.entity, batch.result
    references = None
    for text in batch.parts.buckets():
        references = _references(entity, known) if references is None else references
        try:
            conformed = conform(text, entity, source=source, known_keys=references, format_labels=batch.format_labels)
            batch.quarantine.append(conformed.quarantine)
            result.warnings.extend(w for w in conformed.warnings if w not in result.warnings)
            rows = conformed.rows
        except SchemaDriftError as error:  # an ERP table lacking a required column
            batch.quarantine.append(_quarantine_rows(text, source, entity.name, str(error), error.column))
            if str(error) not in result.errors:
                result.errors.append(str(error))
            rows = pl.DataFrame()
        if rows.height:
            if len(entity.primary_key) == 1:
                known.add(entity.name, rows[entity.primary_key[0]])
            changed, updated = warehouse.changed_rows(con, schema, entity, rows)
            batch.rows.add(changed)
            result.rows_unchanged += rows.height - changed.height
            result.rows_updated += updated
            result.rows_new += changed.height - updated
            newest = rows[entity.cursor].max()
            result.watermark_to = newest if result.watermark_to is None else max(result.watermark_to, newest)
    result.rows_quarantined = sum(q.height for q in batch.quarantine)


def _quarantine_identity(record: dict[str, object]) -> str:
    """What makes a quarantine record the same one again: its source, entity, key, reason and
    content. The key is the row's primary key, or where a row has none its place (file and row;
    for a database table, whose row order changes between reads, its content alone). The content
    leaves out the cursor, which the connector may stamp with the load time. Never the load or
    the file a row came in (the same bad row re-read in the look-back window, or sent again in a
    later file, is the same record)."""
    entity = ENTITIES.get(str(record["entity"]))
    try:
        content = json.loads(str(record["record"]))
    except ValueError:
        content = None
    if isinstance(content, dict) and entity is not None:
        key_values = [content.get(k) for k in entity.primary_key]
        content.pop(entity.cursor, None)
        content_text = json.dumps(content, sort_keys=True)
    else:  # a whole file's text (a file that could not be read): the file is its key
        key_values, content_text = [None], str(record["record"])
    if all(v not in (None, "") for v in key_values):
        key = "|".join(str(v) for v in key_values)
    elif record["source"] in SQL_SOURCES:
        key = ""
    else:
        key = f"{record['file']}#{record['row_number']}"
    parts = [record["source"], record["entity"], key, record["column_name"], record["reason"], content_text]
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:32]


def _quarantine_ids(frame: pl.DataFrame) -> pl.Series:
    return pl.Series("quarantine_id", [_quarantine_identity(r) for r in frame.iter_rows(named=True)], pl.String)


def _new_quarantine(con, schema: str, batches: list[_Batch], load_id: str, at: dt.datetime) -> pl.DataFrame:
    """Quarantine records not already quarantined by an earlier load (re-reads add nothing): the
    load log still counts a re-read bad row as quarantined in its load, so its counts add up."""
    records = [q for b in batches for q in b.quarantine if q.height]
    if not records:
        return pl.DataFrame(schema=_QUARANTINE_COLUMNS)
    quarantine = pl.concat(records)
    quarantine = quarantine.with_columns(_quarantine_ids(quarantine)).unique(
        "quarantine_id", keep="first", maintain_order=True
    )
    if db.table_exists(con, schema, QUARANTINE_TABLE):
        already = db.query_frame(con, f'select quarantine_id from "{schema}".{QUARANTINE_TABLE}')
        quarantine = quarantine.filter(~pl.col("quarantine_id").is_in(already["quarantine_id"].implode()))
    return quarantine.with_columns(pl.lit(load_id).alias("load_id"), pl.lit(at).alias("quarantined_at"))


_POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int64(),
    "money": pl.Decimal(18, 2),
    "rate": pl.Decimal(18, 8),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us"),
    "bool": pl.Boolean(),
}


def empty_rows(entity: Entity) -> pl.DataFrame:
    """No rows, but the contract's typed columns: enough for dlt to create the raw table."""
    return pl.DataFrame(schema={c.name: _POLARS_TYPES[c.type] for c in entity.columns} | {SOURCE_FILE: pl.String()})


def source_entities(source: str) -> list[str]:
    """The entities a source lands, in dependency order (parents first)."""
    if source in SQL_SOURCES:
        return list(SQL_SOURCES[source])
    if source == "files":
        return list(ENTITIES)
    return list(FILE_SOURCES[source].entities)


def _resource(name: str, data: pa.Table | Iterator[pa.Table], *, merge: bool, **hints: object):
    return dlt.resource(data, name=name, write_disposition="merge" if merge else "append", **hints)


def _entity_resource(entity: Entity, rows: SpilledRows | None, merge: bool):
    """The entity's changed rows (read back from disk if they were spilled); None: no rows.

    Rows whose keys are all new are appended: merging them would only copy them through a
    staging table first (a third of a first load's time)."""
    data, columns = (rows.arrow(), rows.columns) if rows is not None else (empty_rows(entity).to_arrow(), [])
    contract = set(entity.column_names)
    extras = [c for c in columns if c not in contract and c != SOURCE_FILE]
    return _resource(
        entity.name,
        data,
        merge=merge,
        primary_key=list(entity.primary_key),
        columns=column_hints(entity, extras),
        schema_contract=SCHEMA_CONTRACT,
    )


_QUARANTINE_HINTS = {
    "primary_key": "quarantine_id",
    "columns": {
        "row_number": {"data_type": "bigint"},
        "quarantined_at": {"data_type": "timestamp", "timezone": False},
    },
}
_QUARANTINE_COLUMNS = {
    **QUARANTINE_SCHEMA,
    "quarantine_id": pl.String(),
    "load_id": pl.String(),
    "quarantined_at": pl.Datetime("us"),
}


def dlt_source_for(
    source: str, rows: dict[str, SpilledRows], quarantine: pl.DataFrame, updating: frozenset[str] = frozenset()
):
    """The dlt source of one raw schema: one resource per entity (changed rows, merged on the
    primary key where `updating` says some keys exist already, else appended; no rows leaves the
    table as it is, or creates it empty) and the quarantine (only new records: appended)."""
    resources = [_entity_resource(ENTITIES[name], rows.get(name), name in updating) for name in source_entities(source)]
    records = quarantine.cast(_QUARANTINE_COLUMNS).to_arrow()
    resources.append(_resource(QUARANTINE_TABLE, records, merge=False, **_QUARANTINE_HINTS))
    return dlt.source(lambda: resources, name=source)()


def spec_source(source: str):
    """The same source with no rows: what Dagster needs to know the assets a load produces."""
    return dlt_source_for(source, {}, pl.DataFrame(schema=_QUARANTINE_COLUMNS))


# DuckDB keeps the order of the rows an insert reads unless told it need not. A load's rows have
# no order anyone reads (every model orders what it needs); without it DuckDB wrote them as the
# insert ran, where with it the checkpoint that closes the connection did (docs/performance.md).
_LOAD_SETTINGS = {"preserve_insertion_order": False}


def dlt_pipeline_for(source: str, config: IngestConfig):
    credentials = {"database": str(config.warehouse), "local_config": _LOAD_SETTINGS}
    return dlt.pipeline(
        pipeline_name=f"o2c_{source}",
        destination=dlt.destinations.duckdb(credentials),
        dataset_name=f"raw_{source}",
        pipelines_dir=str(config.dlt_dir),
    )


_LOG_SCHEMA = {
    "load_id": pl.String, "source": pl.String, "entity": pl.String, "started_at": pl.Datetime("us"),
    "finished_at": pl.Datetime("us"), "rows_in": pl.Int64, "rows_new": pl.Int64, "rows_updated": pl.Int64,
    "rows_unchanged": pl.Int64, "rows_quarantined": pl.Int64, "files_read": pl.Int64, "files_failed": pl.Int64,
    "watermark_from": pl.Datetime("us"), "watermark_to": pl.Datetime("us"), "dlt_load_id": pl.String,
}  # fmt: skip
_MANIFEST_SCHEMA = {
    "file": pl.String, "sha256": pl.String, "entity": pl.String, "rows_in": pl.Int64, "rows_quarantined": pl.Int64,
    "error": pl.String, "load_id": pl.String, "loaded_at": pl.Datetime("us"),
}  # fmt: skip


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass
class PreparedLoad:
    """A source read and conformed, ready for its dlt run; `record` completes it afterwards."""

    source: str
    load_id: str
    started: dt.datetime
    batches: list[_Batch]
    quarantine: pl.DataFrame
    manifest: list[dict[str, object]]

    @property
    def schema(self) -> str:
        return f"raw_{self.source}"

    def dlt_source(self):
        return dlt_source_for(
            self.source,
            {b.entity.name: b.rows for b in self.batches if b.rows.height},
            self.quarantine,
            frozenset(b.entity.name for b in self.batches if b.result.rows_updated),
        )


def repair_dlt_pipeline(source: str, config: IngestConfig) -> list[str]:
    """Leave the source's dlt working folder as a successful load would: the packages an earlier
    run left unfinished (a load that failed or was killed between extract and load) are dropped,
    and the packages already loaded are deleted. One line per repair, for the run's report.

    Dropping is safe because nothing is lost: the load log and file manifest are written only
    after a successful dlt run, and `prepare` compares what it reads with the warehouse, so the
    rows of a dropped package (or whatever part of it never reached the warehouse) are read
    again and loaded by this run. Completing it instead would retry what failed: a package
    that cannot load would block every later load of its source."""
    folder = config.dlt_dir / f"o2c_{source}"
    if not folder.is_dir():
        return []
    dlt_pipeline = dlt_pipeline_for(source, config)
    messages = []
    pending = [*dlt_pipeline.list_extracted_load_packages(), *dlt_pipeline.list_normalized_load_packages()]
    if pending:
        try:
            dlt_pipeline.abort_packages()
        except Exception:  # a package too broken even to abort: its folders go
            for stage in (folder / "normalize" / "extracted", folder / "load" / "normalized"):
                for package in stage.glob("*"):
                    shutil.rmtree(package, ignore_errors=True)
        messages.append(
            f"{source}: dropped {len(pending)} unfinished dlt load package(s) ({', '.join(sorted(pending))}) "
            f"left by an earlier run that failed or was stopped; their rows are read and loaded again now"
        )
    for package in (folder / "load" / "loaded").glob("*"):  # their record is _dlt_loads in the warehouse
        shutil.rmtree(package, ignore_errors=True)
    return messages


def prepare(source: str, config: IngestConfig, load_id: str) -> PreparedLoad:
    """Extract, conform, and keep only new or changed rows and new quarantine records."""
    schema = f"raw_{source}"
    started = _utc_now()
    shutil.rmtree(_spill_dir(config, source), ignore_errors=True)  # left by a load that failed
    repairs = repair_dlt_pipeline(source, config)
    con = db.connect(config.warehouse)
    try:
        batches, manifest = extract(source, config, con, schema)
        ordered = [batches[name] for name in ENTITIES if name in batches]  # parents before children
        known = KnownKeys(con)
        for batch in ordered:
            conform_batch(batch, source, con, schema, known)
            batch.parts.clear()  # the text is no longer needed once conformed
        quarantine = _new_quarantine(con, schema, ordered, load_id, started)
    finally:
        con.close()  # dlt opens the warehouse itself; DuckDB allows one writer
    if ordered:  # reported with the source's first entity: the run summary and Dagster show entity warnings
        ordered[0].result.warnings[:0] = repairs
    return PreparedLoad(source, load_id, started, ordered, quarantine, manifest)


def record(
    prepared: PreparedLoad, config: IngestConfig, row_counts: dict[str, int], dlt_load_id: str | None
) -> SourceReport:
    """After a successful dlt run: the load log and the file manifest (files are then skipped)."""
    finished = _utc_now()
    results = [b.result for b in prepared.batches]
    log = [
        {
            "load_id": prepared.load_id, "source": prepared.source, "entity": r.entity, "started_at": prepared.started,
            "finished_at": finished, "rows_in": r.rows_in, "rows_new": r.rows_new, "rows_updated": r.rows_updated,
            "rows_unchanged": r.rows_unchanged, "rows_quarantined": r.rows_quarantined, "files_read": r.files_read,
            "files_failed": r.files_failed, "watermark_from": r.watermark_from, "watermark_to": r.watermark_to,
            "dlt_load_id": dlt_load_id,
        }
        for r in results
    ]  # fmt: skip
    con = db.connect(config.warehouse)
    try:
        warehouse.record_load(con, prepared.schema, pl.DataFrame(log, schema=_LOG_SCHEMA))
        files = [{**m, "load_id": prepared.load_id, "loaded_at": finished} for m in prepared.manifest]
        warehouse.record_files(con, prepared.schema, pl.DataFrame(files, schema=_MANIFEST_SCHEMA))
    finally:
        con.close()
    shutil.rmtree(_spill_dir(config, prepared.source), ignore_errors=True)
    return SourceReport(prepared.source, prepared.schema, prepared.load_id, results, row_counts, dlt_load_id)


def loaded_row_counts(pipeline) -> dict[str, int]:
    """Rows dlt normalized per data table in the pipeline's last run (its own load info)."""
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return {k: v for k, v in counts.items() if not k.startswith("_dlt") and v}


def last_load_id(pipeline) -> str | None:
    info = pipeline.last_trace.last_load_info if pipeline.last_trace else None
    return info.loads_ids[0] if info and info.loads_ids else None


def ingest_source(source: str, config: IngestConfig, load_id: str) -> SourceReport:
    prepared = prepare(source, config, load_id)
    pipeline = dlt_pipeline_for(source, config)
    pipeline.run(prepared.dlt_source())
    return record(prepared, config, loaded_row_counts(pipeline), last_load_id(pipeline))


def new_load_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def ingest(config: IngestConfig, selected: list[str] | None = None) -> list[SourceReport]:
    """Load the selected sources (all by default), ERP first so references resolve."""
    unknown = set(selected or []) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}; choose from {', '.join(SOURCES)}")
    configured = configured_sources(config)
    if selected is None:
        chosen = configured
    else:
        chosen = [s for s in SOURCES if s in selected]
        missing = [s for s in chosen if s not in configured]
        if missing:
            raise SourceUnavailable(f"{missing[0]}: not configured here: {_how_to_configure(missing[0], config)}")
    load_id = new_load_id()
    return [ingest_source(s, config, load_id) for s in chosen]
