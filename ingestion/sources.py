"""Connectors: read each source system into text batches in the contract's column names.

A connector only reads and renames; typing and validation happen once, in `conform`.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from dlt.sources.sql_database import BaseTableLoader, get_table_loader_class
from dlt.sources.sql_database.schema_types import table_to_columns

from ingestion.conform import SOURCE_FILE, SOURCE_ROW
from ingestion.contract import ENTITIES


@dataclass
class FileBatch:
    """The rows of one file, or why the file could not be read."""

    file: str  # path relative to the source folder
    sha256: str
    rows: pl.DataFrame | None
    bad_lines: pl.DataFrame | None = None  # (row_number, content) of lines that are not JSON
    error: str | None = None


def _with_lineage(frame: pl.DataFrame, file: str, offset: int = 0) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(file).alias(SOURCE_FILE),
        pl.int_range(offset + 1, offset + pl.len() + 1, dtype=pl.Int64).alias(SOURCE_ROW),
    )


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns([pl.col(c).cast(pl.String) for c in frame.columns])


# ---- Source databases: the ERP, the ops store (any SQLAlchemy URL) -----------------------------------------------------

_SENTINEL = "_o2c_sentinel"


class AdbcTextLoader(BaseTableLoader):
    """A dlt table loader: dlt builds the query (`make_query`, with its adapters); this reads it as
    text through the database's ADBC driver, which hands over Arrow batches with no Python object per row (dlt's own
    backends read a SQLite table about 3 times slower: docs/decisions.md).

    The server renders every value as text. SQLite's driver infers each column's type from its
    first batch and fails when a later batch disagrees (a column null for the first rows and text
    after, a whole-number amount stored as an integer then a decimal one), so a first row of
    empty strings makes every column text from the start; that row is dropped on arrival.
    """

    def load_rows(self, backend_kwargs: dict[str, object] | None = None) -> Iterator[pa.Table]:
        columns = list(self.table.columns)
        query = self.make_query().with_only_columns(*(self._as_text(c).label(c.name) for c in columns))
        sqlite = self.engine.url.get_backend_name() == "sqlite"
        if sqlite:
            import adbc_driver_sqlite.dbapi as driver

            first = sa.select(*(sa.literal("").label(c.name) for c in columns), sa.literal(0).label(_SENTINEL))
            # SQLite runs the arms of a UNION ALL in order, so the sentinel row comes first.
            query = sa.union_all(first, query.add_columns(sa.literal(1).label(_SENTINEL)))
            connection = driver.connect(self.engine.url.database)
        else:
            import adbc_driver_postgresql.dbapi as driver

            connection = driver.connect(self.get_connection_url())
        with connection, connection.cursor() as cursor:
            if sqlite:
                cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(self.chunk_size)})
            cursor.execute(self.compile_query(query))
            batches = cursor.fetch_record_batch()
            for batch in _after_sentinel(batches) if sqlite else batches:
                yield pa.Table.from_batches([batch])

    def _as_text(self, column: sa.Column) -> sa.ColumnElement:
        """A column as text the way its declared type shows it: NUMERIC(18, 2) as 8.20, not 8.2
        (SQLite keeps 8.2 as a real; PostgreSQL renders the declared scale itself)."""
        scale = getattr(column.type, "scale", None)
        decimal = isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Float)
        if self.engine.url.get_backend_name() == "sqlite" and decimal and scale is not None:
            number = sa.func.typeof(column).in_(["integer", "real"])
            return sa.case((number, sa.func.printf(f"%.{scale}f", column)), else_=sa.cast(column, sa.Text))
        return sa.cast(column, sa.Text)


def _after_sentinel(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches without the sentinel row (the very first) and its column: slicing copies nothing."""
    ahead = True
    for batch in batches:
        if ahead and batch.num_rows:
            batch, ahead = batch.slice(1), False
        yield batch.drop_columns([_SENTINEL])


def _uses_adbc(url: sa.URL) -> bool:
    if url.get_backend_name() == "sqlite":
        return url.database not in (None, "", ":memory:")
    return url.get_backend_name() == "postgresql"


def read_sql_table(
    engine: sa.Engine,
    source: str,
    entity: str,
    since: dt.datetime | None,
    chunk_rows: int = 200_000,
    loaded_at: dt.datetime | None = None,
) -> Iterator[pl.DataFrame]:
    """Rows of a source database's table (the ERP, the ops store) changed since `since` (all rows
    when None), as text, in chunks of about `chunk_rows` rows.

    dlt's table loaders do the work: SQLite and PostgreSQL are read by `AdbcTextLoader`, any other
    database by dlt's `pyarrow` loader with the declared types reflected (decimals keep their
    scale), then cast to text. They are called directly rather than through the `sql_table`
    resource, whose configuration lookups cost about 25 ms a table and which has nothing to add
    here (no pipeline, no dlt incremental: docs/decisions.md). `_source_row` runs on across chunks.

    A table without the cursor column (`updated_at`) is a full snapshot: every row is read on
    every load, stamped with `loaded_at`, and only rows whose values changed are loaded.
    """
    cursor = ENTITIES[entity].cursor

    def changed_since(query: sa.Select, table: sa.Table) -> sa.Select:
        # `since` comes from our own load log, never from user input; a text literal compares
        # with a text cursor (SQLite) and a timestamp one (PostgreSQL) alike.
        if since is None or cursor not in table.c:
            return query
        return query.where(table.c[cursor] >= sa.literal(since.isoformat(sep=" ", timespec="microseconds")))

    table = sa.Table(entity, sa.MetaData(), autoload_with=engine)
    loader_class = AdbcTextLoader if _uses_adbc(engine.url) else get_table_loader_class("pyarrow")
    loader = loader_class(
        engine, "pyarrow", table, table_to_columns(table), chunk_size=chunk_rows, query_adapter_callback=changed_since
    )
    stamp = (loaded_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)).isoformat(sep=" ")
    offset = 0
    for item in loader.load_rows():
        frame = pl.from_arrow(item)
        if frame.height:
            if cursor not in frame.columns:
                frame = frame.with_columns(pl.lit(stamp).alias(cursor))
            yield _with_lineage(_as_text(frame), f"{source}.{entity}", offset)
            offset += frame.height


# ---- Files ---------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv_file(path: Path, root: Path, delimiter: str = ",", encoding: str = "utf-8") -> FileBatch:
    rel = str(path.relative_to(root))
    digest = _sha256(path)
    try:
        if codecs.lookup(encoding).name == "utf-8":
            source: Path | io.StringIO = path
        else:  # Polars reads UTF-8 only: other encodings are decoded first (strictly: a wrong byte fails the file)
            source = io.StringIO(path.read_bytes().decode(encoding))
        frame = pl.read_csv(source, infer_schema=False, encoding="utf8", separator=delimiter)
    except Exception as exc:  # any parser failure: the file is reported, the others go on
        return FileBatch(rel, digest, None, error=f"unreadable CSV: {exc}".splitlines()[0])
    return FileBatch(rel, digest, _with_lineage(frame, rel))


def read_parquet_file(path: Path, root: Path) -> FileBatch:
    rel = str(path.relative_to(root))
    digest = _sha256(path)
    try:
        frame = _as_text(pl.read_parquet(path))
    except Exception as exc:
        return FileBatch(rel, digest, None, error=f"unreadable Parquet: {exc}".splitlines()[0])
    return FileBatch(rel, digest, _with_lineage(frame, rel))


def read_jsonl_file(path: Path, root: Path) -> FileBatch:
    """JSON lines; a bad line is set aside with its line number, the rest still load."""
    rel = str(path.relative_to(root))
    digest = _sha256(path)
    text = path.read_text(encoding="utf8", errors="replace")
    try:
        frame = pl.read_ndjson(path, infer_schema_length=None) if text.strip() else pl.DataFrame()
        return FileBatch(rel, digest, _with_lineage(_as_text(frame), rel))
    except Exception:
        pass  # fall back to line by line, only for the rare broken file
    records, bad = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            records.append({k: None if v is None else str(v) for k, v in record.items()} | {SOURCE_ROW: number})
        except ValueError:
            bad.append({"row_number": number, "content": line})
    frame = (
        pl.DataFrame(records, infer_schema_length=None).with_columns(pl.lit(rel).alias(SOURCE_FILE))
        if records
        else None
    )
    bad_frame = pl.DataFrame(bad, schema={"row_number": pl.Int64, "content": pl.String})
    return FileBatch(rel, digest, frame, bad_lines=bad_frame)


# ---- Source-specific layouts mapped to the contract ------------------------------------------


def processor_to_contract(frame: pl.DataFrame) -> pl.DataFrame:
    """Processor export (charges and refunds) → payments."""
    get = lambda name: pl.col(name) if name in frame.columns else pl.lit(None, pl.String)  # noqa: E731
    renamed = {
        "id": "payment_id",
        "customer": "customer_id",
        "payment_method_type": "payment_method",
        "description": "remittance_info",
        "charge": "original_payment_id",
        "amount": "amount",
    }
    known = set(renamed) | {"object", "created", "currency", "status", SOURCE_FILE, SOURCE_ROW}
    return frame.select(
        pl.lit(None, pl.String).alias("payer_name"),
        pl.lit(None, pl.String).alias("payer_account"),
        *[get(src).alias(dst) for src, dst in renamed.items()],
        get("created").str.slice(0, 10).alias("payment_date"),
        get("currency").str.to_uppercase().alias("currency"),
        pl.when(get("object") == "charge")
        .then(pl.lit("payment"))
        .when(get("object") == "refund")
        .then(pl.lit("refund"))
        .otherwise(get("object"))
        .alias("payment_type"),
        get("created").alias("updated_at"),
        *[pl.col(c) for c in frame.columns if c not in known],
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
    )


BANK_REQUIRED = ("bank_transaction_id", "value_date", "amount", "currency")
PROCESSOR_REQUIRED = ("id", "amount", "currency", "created")


def bank_to_contract(frame: pl.DataFrame) -> pl.DataFrame:
    """Bank statement lines (incoming credit transfers) → payments."""
    renamed = {
        "bank_transaction_id": "payment_id",
        "value_date": "payment_date",
        "amount": "amount",
        "currency": "currency",
        "counterparty_name": "payer_name",
        "counterparty_account": "payer_account",
        "remittance_information": "remittance_info",
    }
    known = set(renamed) | {"statement_id", "booking_date", "transaction_code", SOURCE_FILE, SOURCE_ROW}
    return frame.select(
        *[pl.col(src).alias(dst) for src, dst in renamed.items() if src in frame.columns],
        pl.lit(None, pl.String).alias("customer_id"),
        pl.lit("bank_transfer").alias("payment_method"),
        pl.lit("payment").alias("payment_type"),
        pl.lit(None, pl.String).alias("original_payment_id"),
        # Statement lines never change after booking: the booking date is their updated_at.
        pl.col("booking_date" if "booking_date" in frame.columns else "value_date").alias("updated_at"),
        *[pl.col(c) for c in frame.columns if c not in known],
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
    )


def contract_entity_of(path: Path, root: Path) -> str | None:
    """`<entity>.csv`, `<entity>_<anything>.csv` or `<entity>/<anything>.csv` (or .parquet)."""
    rel = path.relative_to(root)
    if len(rel.parts) > 1 and rel.parts[0] in ENTITIES:
        return rel.parts[0]
    stem = path.stem
    return next((e for e in sorted(ENTITIES, key=len, reverse=True) if stem == e or stem.startswith(e + "_")), None)


def discover(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    if root.exists():
        yield from sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
