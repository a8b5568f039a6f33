"""Connectors: read each source system into text batches in the contract's column names.

A connector only reads and renames; typing and validation happen once, in `conform`.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from dlt.sources.sql_database import BaseTableLoader, get_table_loader_class
from dlt.sources.sql_database.schema_types import table_to_columns

from ingestion.conform import LINEAGE, SOURCE_FILE, SOURCE_PROBLEM, SOURCE_ROW
from ingestion.contract import ENTITIES


@dataclass
class FileBatch:
    """The rows of one file, or why the file could not be read."""

    file: str  # path relative to the source folder
    sha256: str
    rows: pl.DataFrame | None
    # (row_number, content, reason) of lines that are no row at all: not JSON, too many or too few fields
    bad_lines: pl.DataFrame | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def _with_lineage(frame: pl.DataFrame, file: str, offset: int = 0) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(file).alias(SOURCE_FILE),
        pl.int_range(offset + 1, offset + pl.len() + 1, dtype=pl.Int64).alias(SOURCE_ROW),
    )


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns([pl.col(c).cast(pl.String) for c in frame.columns])


def valid_text(table: pa.Table, encoding: str) -> pl.DataFrame:
    """`table` as a Polars frame in which every text value is valid UTF-8.

    A database or file may hold bytes that are not text in its encoding (a latin-1 name in a UTF-8
    ERP): Arrow and Polars pass them on unchecked and the warehouse refuses the whole batch. Such
    a value becomes its readable part (U+FFFD for each bad byte) and its row is marked in
    SOURCE_PROBLEM with the column, so `conform` quarantines that row and the others load.
    The full check is one pass in Arrow; the value by value look happens only for a bad column."""
    try:
        table.validate(full=True)
        return pl.from_arrow(table)
    except pa.ArrowInvalid:
        pass
    problems: list[str | None] = [None] * table.num_rows
    for index, name in enumerate(table.column_names):
        column = table.column(name)
        if pa.types.is_string(column.type):
            as_bytes = pa.binary()
        elif pa.types.is_large_string(column.type):
            as_bytes = pa.large_binary()
        else:
            continue
        try:
            column.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        values: list[str | None] = []
        for row, chunk in enumerate(v for c in column.chunks for v in c.view(as_bytes).to_pylist()):
            if chunk is None:
                values.append(None)
                continue
            try:
                values.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(chunk.decode("utf-8", errors="replace"))
                if problems[row] is None:
                    problems[row] = f"{name}: not valid {encoding} text (a byte of another encoding)"
        table = table.set_column(index, name, pa.array(values, column.type))
    return pl.from_arrow(table).with_columns(pl.Series(SOURCE_PROBLEM, problems, pl.String))


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
            # Only a number that has at most `scale` decimals is padded: 123.456 stays 123.456 and
            # is quarantined ("more than 2 decimals"), never rounded to 123.46 on the way in.
            fits = sa.func.typeof(column).in_(["integer", "real"]) & (sa.func.round(column, scale) == column)
            return sa.case((fits, sa.func.printf(f"%.{scale}f", column)), else_=sa.cast(column, sa.Text))
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
        frame = valid_text(item, "UTF-8")
        if frame.height:
            if cursor not in frame.columns:
                frame = frame.with_columns(pl.lit(stamp).alias(cursor))
            yield _with_lineage(_as_text(frame), f"{source}.{entity}", offset)
            offset += frame.height


# ---- Files ---------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    """The file's SHA-256, read in blocks (no copy of a large file in memory)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_csv_file(path: Path, root: Path, delimiter: str = ",", encoding: str = "utf-8") -> FileBatch:
    """A CSV file's rows as text. A row with too many or too few fields is set aside with its row
    number (Polars would fill a short row with nulls without a word); a value with bytes that are
    not text in the file's encoding marks its row for quarantine; the other rows load."""
    rel = str(path.relative_to(root))
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    # Arrow reads UTF-8: other encodings are decoded first. A byte the encoding lacks (a latin-1
    # name in a UTF-8 file) becomes U+FFFD, and the rows holding one are quarantined below.
    utf8 = codecs.lookup(encoding).name == "utf-8"
    encoding = "UTF-8" if utf8 else encoding  # as the reasons name it
    try:
        text = data.decode(encoding)
        undecodable = False
    except UnicodeDecodeError:
        text, undecodable = data.decode(encoding, errors="replace"), True
    if undecodable or not utf8:
        data = text.encode("utf-8")
    del text
    data = data.removeprefix(codecs.BOM_UTF8)
    end = data.find(b"\n")
    first_line = data[: end if end >= 0 else len(data)].rstrip(b"\r").decode("utf-8", errors="replace")
    header = next(csv.reader([first_line], delimiter=delimiter), [])
    ragged: list[dict[str, object]] = []

    def set_aside(row: pa_csv.InvalidRow) -> str:
        ragged.append(
            {
                "row_number": (row.number or 0) - 1,  # Arrow counts the header as row 1
                "content": row.text,
                "reason": f"ragged row: {row.actual_columns} field{'' if row.actual_columns == 1 else 's'} "
                f"where the header has {row.expected_columns}" + (f" (line {row.number})" if row.number else ""),
            }
        )
        return "skip"

    def read(threads: bool) -> pa.Table:
        ragged.clear()
        return pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(use_threads=threads, block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=set_aside
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        table = read(threads=True)
        if any(r["row_number"] < 0 for r in ragged):  # read in parallel, a row's number is not known
            table = read(threads=False)
        frame = _as_text(pl.from_arrow(table))
    except Exception as exc:  # any parser failure: the file is reported, the others go on
        return FileBatch(rel, digest, None, error=f"unreadable CSV: {exc}".splitlines()[0])
    if undecodable:
        bad = pl.any_horizontal(pl.col(c).str.contains("\ufffd", literal=True) for c in frame.columns)
        first = pl.coalesce(
            pl.when(pl.col(c).str.contains("\ufffd", literal=True)).then(
                pl.lit(f"{c}: not valid {encoding} text (a byte of another encoding)")
            )
            for c in frame.columns
        )
        frame = frame.with_columns(pl.when(bad).then(first).alias(SOURCE_PROBLEM))
    # Row numbers count the data rows of the file (its line number less the header's), set-aside rows included.
    taken = {int(r["row_number"]) for r in ragged}
    if taken:
        numbers = [n for n in range(1, frame.height + len(taken) + 1) if n not in taken][: frame.height]
        frame = frame.with_columns(pl.lit(rel).alias(SOURCE_FILE), pl.Series(SOURCE_ROW, numbers, pl.Int64))
    else:
        frame = _with_lineage(frame, rel)
    bad_lines = pl.DataFrame(ragged, schema=_BAD_LINE_SCHEMA)
    batch = FileBatch(rel, digest, frame, bad_lines=bad_lines)
    if SOURCE_PROBLEM in frame.columns and frame[SOURCE_PROBLEM].is_not_null().any():
        count = frame[SOURCE_PROBLEM].is_not_null().sum()
        batch.warnings.append(
            f"{count} row(s) hold bytes that are not {encoding} text and are quarantined; an encoding is never "
            f"guessed: a file written in another one (cp1252, latin-1 …) is declared as `encoding` in the mapping file"
        )
    return batch


_BAD_LINE_SCHEMA = {"row_number": pl.Int64, "content": pl.String, "reason": pl.String}


def read_parquet_file(path: Path, root: Path) -> FileBatch:
    rel = str(path.relative_to(root))
    digest = sha256_of(path)
    try:
        frame = _as_text(pl.read_parquet(path))
    except Exception as exc:
        return FileBatch(rel, digest, None, error=f"unreadable Parquet: {exc}".splitlines()[0])
    return FileBatch(rel, digest, _with_lineage(frame, rel))


def read_jsonl_file(path: Path, root: Path) -> FileBatch:
    """JSON lines; a line that is not a JSON object (a truncated last line, a stray text) is set
    aside with its line number, and a line with bytes that are not UTF-8 is marked for quarantine;
    the rest load."""
    rel = str(path.relative_to(root))
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        if not _utf8(data):
            raise ValueError("bytes that are not UTF-8")
        frame = _read_ndjson(data, [path], _jsonl_rows(data) or 0) if data.strip() else pl.DataFrame()
        return FileBatch(rel, digest, _with_lineage(_as_text(frame), rel))
    except Exception:
        pass  # fall back to line by line, only for the rare broken file
    records, bad = [], []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line, problem = raw.decode("utf-8"), None
        except UnicodeDecodeError:
            line, problem = raw.decode("utf-8", errors="replace"), "not valid UTF-8 text (a byte of another encoding)"
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            reason = "invalid JSON: the line is not a complete JSON object"
            bad.append({"row_number": number, "content": line, "reason": reason})
            continue
        values = {k: None if v is None else v if isinstance(v, str) else json.dumps(v) for k, v in record.items()}
        if problem is not None:
            column = next((k for k, v in values.items() if v is not None and "\ufffd" in v), "record")
            problem = f"{column}: {problem}"
        records.append(values | {SOURCE_ROW: number, SOURCE_PROBLEM: problem})
    frame = None
    if records:
        # Every value as text: a column null in this file and filled in the next must stack with it.
        columns = list(dict.fromkeys(k for r in records for k in r if k != SOURCE_ROW))
        frame = pl.DataFrame(records, schema={c: pl.String for c in columns} | {SOURCE_ROW: pl.Int64}).with_columns(
            pl.lit(rel).alias(SOURCE_FILE)
        )
        if frame[SOURCE_PROBLEM].is_null().all():
            frame = frame.drop(SOURCE_PROBLEM)
    return FileBatch(rel, digest, frame, bad_lines=pl.DataFrame(bad, schema=_BAD_LINE_SCHEMA))


# ---- Many files in one pass ------------------------------------------------------------------
# A day's payment files hold a few hundred rows each: read one at a time, a source's history cost
# more in per-file overhead (a parser and frames per file) than in parsing. Files of one layout are
# read together, in chunks of about GROUP_BYTES; a file that needs a closer look (bytes that are
# not UTF-8, a ragged row, a blank line, a BOM, a JSON value typed differently than alone) makes
# its chunk fall back to the one-file readers above, which say exactly what is wrong with it.

GROUP_BYTES = 64 << 20


@dataclass
class FileGroup:
    """The rows of several files of one layout, read in one pass, numbered per file as if each had
    been read alone (SOURCE_FILE, SOURCE_ROW)."""

    files: list[str]  # paths relative to the source folder, in reading order
    digests: list[str]  # each file's SHA-256
    rows: pl.DataFrame


@dataclass
class _Chunk:
    paths: list[Path] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)
    size: int = 0

    def add(self, path: Path, root: Path, data: bytes, digest: str) -> None:
        self.paths.append(path)
        self.files.append(str(path.relative_to(root)))
        self.digests.append(digest)
        self.data.append(data if data.endswith(b"\n") else data + b"\n")
        self.size += len(data)


def _chunked(chunks: dict[object, list[_Chunk]], key: object) -> _Chunk:
    """The open chunk for `key`: a new one once the last holds GROUP_BYTES."""
    open_chunks = chunks.setdefault(key, [_Chunk()])
    if open_chunks[-1].size >= GROUP_BYTES:
        open_chunks.append(_Chunk())
    return open_chunks[-1]


def _numbered(frame: pl.DataFrame, files: list[str], file_index: pl.Series) -> pl.DataFrame:
    """SOURCE_FILE and SOURCE_ROW (1, 2, … within each file) from each row's file index."""
    return (
        frame.with_columns(file_index.alias("_file_index"))
        .with_columns(
            pl.Series(SOURCE_FILE, files, pl.String).gather(file_index),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("_file_index").alias(SOURCE_ROW),
        )
        .drop("_file_index")
    )


def _utf8(data: bytes) -> bool:
    """Whether a file's bytes are UTF-8 text. Polars checks neither a JSON file's bytes nor its
    strings', but from UTF-8 bytes it reads only UTF-8 strings (an escape that is no character
    fails the read, or for a lone high surrogate reads as NUL), so this one pass over the file
    stands for a check of every string in it."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Polars types JSON lines from every row when asked to, and that took longer than the reading
# itself (4.5 of 6.2 s for 3.3 M payments). The first rows' types are every row's when no row has
# another key (DuckDB lists them all, in parallel) and every later value fits them: a value that
# does not (a string or a fraction in a column of whole numbers, a value where the first rows had
# only nulls) fails the read, which is then typed from every row.
INFER_ROWS = 10_000


def _read_ndjson(data: bytes, paths: list[Path], rows: int) -> pl.DataFrame:
    """The rows of JSON-lines `data` (the bytes of `paths`, `rows` lines), typed as Polars types
    them from every row."""
    if rows > INFER_ROWS:
        schema = pl.scan_ndjson(io.BytesIO(data), infer_schema_length=INFER_ROWS).collect_schema()
        # Only flat types, whose reading is strict: a struct would read a key its first rows lacked as
        # nothing. Null (no value in the first rows) fails on the first value.
        flat = all(dtype in (pl.String, pl.Int64, pl.Boolean, pl.Null) for dtype in schema.dtypes())
        if flat and set(schema.names()) == _json_keys(paths):
            try:
                return pl.read_ndjson(io.BytesIO(data), schema=schema)
            except pl.exceptions.PolarsError:
                pass
    return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)


def _json_keys(paths: list[Path]) -> set[str] | None:
    """Every key of every JSON object in the files; None if DuckDB cannot read them."""
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")
        query = "select distinct unnest(json_keys(json)) from read_ndjson_objects(?)"
        return {key for (key,) in con.execute(query, [[str(p) for p in paths]]).fetchall()}
    except duckdb.Error:
        return None
    finally:
        con.close()


def _jsonl_rows(data: bytes) -> int | None:
    """How many rows a JSON-lines file holds if each line is one (a blank line is not: the chunk's
    row count then disagrees and it is read file by file); None for an empty file."""
    body = data[:-1] if data.endswith(b"\n") else data
    return body.count(b"\n") + 1 if body.strip() else None


def read_jsonl_files(
    paths: list[Path], root: Path, required: tuple[str, ...] = ()
) -> tuple[list[FileGroup], list[Path]]:
    """JSON-lines files read together; the files to read alone (`read_jsonl_file`).

    Alone, a file lacking a key has no such column; together, the key is null on that file's rows.
    So a file in which a `required` column is null on every row is read alone, and its chunk with
    it: the file is then reported as lacking the column, as it would be on its own. A number is
    text the way its file types it: a chunk where a column reads as floating point goes alone file
    by file, so that 100 in a file of whole numbers stays "100", never "100.0"."""
    chunks: dict[object, list[_Chunk]] = {}
    alone: list[Path] = []
    rows_of: dict[str, int] = {}
    for path in paths:
        data = path.read_bytes()
        rows = _jsonl_rows(data)
        if rows is None or not _utf8(data):
            alone.append(path)
            continue
        chunk = _chunked(chunks, None)
        chunk.add(path, root, data, hashlib.sha256(data).hexdigest())
        rows_of[chunk.files[-1]] = rows
    groups: list[FileGroup] = []
    for chunk in (c for cs in chunks.values() for c in cs):
        counts = [rows_of[f] for f in chunk.files]
        try:
            frame = _read_ndjson(b"".join(chunk.data), chunk.paths, sum(counts))
            if frame.height != sum(counts) or any(t.is_float() for t in frame.dtypes):
                raise ValueError("a blank line, or a floating-point column")
            frame = _as_text(frame)
        except Exception:
            alone.extend(chunk.paths)
            continue
        file_index = pl.Series(range(len(counts)), dtype=pl.Int64).repeat_by(pl.Series(counts)).explode()
        frame = _numbered(frame, chunk.files, file_index)
        present = [c for c in required if c in frame.columns]
        if present:
            empty = frame.group_by(SOURCE_FILE).agg(pl.any_horizontal(pl.col(c).is_null().all() for c in present))
            if empty.get_column(empty.columns[1]).any():
                alone.extend(chunk.paths)
                continue
        groups.append(FileGroup(chunk.files, chunk.digests, frame))
    return groups, alone


def read_csv_files(
    paths: list[Path], root: Path, delimiter: str = ",", encoding: str = "utf-8"
) -> tuple[list[FileGroup], list[Path]]:
    """UTF-8 CSV files with the same header line read together; the files to read alone
    (`read_csv_file`: another encoding, a ragged row, bytes that are not UTF-8).

    Each file's header line stays in the stream, where it reads as a row equal to the column
    names: that is where the file starts. Quoted line breaks are parsed as one file's would be. A
    file that holds such a row elsewhere (a header repeated inside it) breaks the count of starts,
    and its chunk is read file by file."""
    chunks: dict[object, list[_Chunk]] = {}
    alone: list[Path] = []
    if codecs.lookup(encoding).name != "utf-8":
        return [], list(paths)
    for path in paths:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        data = data.removeprefix(codecs.BOM_UTF8)
        header = data[: data.find(b"\n")].rstrip(b"\r") if b"\n" in data else data
        if not header.strip():
            alone.append(path)
            continue
        _chunked(chunks, header).add(path, root, data, digest)
    groups: list[FileGroup] = []
    for header, chunk in ((h, c) for h, cs in chunks.items() for c in cs):
        frame = _csv_chunk(chunk, header, delimiter)
        if frame is None:
            alone.extend(chunk.paths)
        else:
            groups.append(FileGroup(chunk.files, chunk.digests, frame))
    return groups, alone


def _csv_chunk(chunk: _Chunk, header: bytes, delimiter: str) -> pl.DataFrame | None:
    """The chunk's rows with each file's numbering, or None if it has to be read file by file."""
    names = next(csv.reader([header.decode("utf-8", errors="replace")], delimiter=delimiter), [])
    if not names or "" in names or len(set(names)) != len(names):
        return None
    ragged: list[pa_csv.InvalidRow] = []
    try:
        table = pa_csv.read_csv(
            io.BytesIO(b"".join(chunk.data)),
            read_options=pa_csv.ReadOptions(use_threads=True, block_size=1 << 24, column_names=names),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                invalid_row_handler=lambda row: ragged.append(row) or "skip",
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except Exception:  # bytes that are not UTF-8, a parser failure: each file says what alone
        return None
    if ragged:
        return None
    frame = pl.from_arrow(table)
    starts = pl.all_horizontal(pl.col(c).eq_missing(pl.lit(c)) for c in names)
    file_index = frame.select(starts.cast(pl.Int64).cum_sum() - 1).to_series()
    is_start = frame.select(starts).to_series()
    if is_start.sum() != len(chunk.files) or not is_start[0]:
        return None
    frame = _numbered(frame, chunk.files, file_index)
    return frame.filter(~is_start).select(*names, SOURCE_FILE, pl.col(SOURCE_ROW) - 1)


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
    known = set(renamed) | {"object", "created", "currency", "status", *LINEAGE}
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
        *[pl.col(c) for c in LINEAGE if c in frame.columns],
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
    known = set(renamed) | {"statement_id", "booking_date", "transaction_code", *LINEAGE}
    return frame.select(
        *[pl.col(src).alias(dst) for src, dst in renamed.items() if src in frame.columns],
        pl.lit(None, pl.String).alias("customer_id"),
        pl.lit("bank_transfer").alias("payment_method"),
        pl.lit("payment").alias("payment_type"),
        pl.lit(None, pl.String).alias("original_payment_id"),
        # Statement lines never change after booking: the booking date is their updated_at.
        pl.col("booking_date" if "booking_date" in frame.columns else "value_date").alias("updated_at"),
        *[pl.col(c) for c in frame.columns if c not in known],
        *[pl.col(c) for c in LINEAGE if c in frame.columns],
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
