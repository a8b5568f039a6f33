"""Rows of one entity on their way through a load: in memory while few, in Parquet files once many.

A first load of a large source (ten million invoice lines) does not fit in memory as text, typed
rows and Arrow copies at once. Rows therefore gather in memory up to a limit, then go to disk, and
are handed back in buckets by a hash of the primary key: every version of one key lands in the
same bucket, so conforming bucket by bucket finds the same duplicates as conforming all at once.
Below the limit nothing touches the disk and there is a single bucket.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.conform import SOURCE_FILE

# Buckets once rows are spilled: at 10 M invoice lines, about 600 k rows each.
BUCKETS = 16
# Rows per Arrow table handed to dlt when reading spilled files back.
ARROW_BATCH_ROWS = 250_000


class SpilledRows:
    """Frames added one after another, read back whole (few rows) or in key buckets (many).

    With a `key`, each spill is written already split into its buckets, so reading a bucket back
    reads only that bucket's files; without one (rows only handed on to dlt) it is written whole.
    """

    def __init__(self, folder: Path, limit: int, key: list[str] | None = None) -> None:
        self.folder = folder
        self.limit = limit
        self.key = key
        self.frames: list[pl.DataFrame] = []
        self.files: dict[int, list[Path]] = {}  # bucket (0 without a key) → its files
        self.spills = 0
        self.in_memory = 0
        self.height = 0

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        self.frames.append(frame)
        self.in_memory += frame.height
        self.height += frame.height
        if self.in_memory >= self.limit:
            self._spill()

    def _spill(self) -> None:
        if not self.frames:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        frame = pl.concat(self.frames, how="diagonal")
        self.frames, self.in_memory = [], 0
        if self.key is None:
            parts = {0: frame}
        else:
            bucket = (pl.struct(self.key).hash(seed=0) % BUCKETS).alias("_bucket")
            split = frame.with_columns(bucket).partition_by("_bucket", as_dict=True, include_key=False)
            parts = {number: part for (number,), part in split.items()}
        for number, part in parts.items():
            path = self.folder / f"spill-{self.spills:05d}-bucket-{number:02d}.parquet"
            part.write_parquet(path, compression="lz4", statistics=False)
            self.files.setdefault(number, []).append(path)
        self.spills += 1

    def buckets(self) -> Iterator[pl.DataFrame]:
        """All rows: as one frame if they stayed in memory, else bucket by bucket, every version
        of a key in the same bucket."""
        if not self.files:
            if self.frames:
                yield pl.concat(self.frames, how="diagonal")
            return
        self._spill()
        # Every bucket has every column, as all rows held in memory would: a quarantined row's
        # record then reads the same whichever other files' rows shared its bucket.
        everything = pl.from_arrow(self._schema().empty_table())
        for number in sorted(self.files):
            bucket = pl.concat([pl.read_parquet(f) for f in self.files[number]], how="diagonal")
            yield pl.concat([everything, bucket], how="diagonal_relaxed")

    def _schema(self) -> pa.Schema:
        """Every column any spill or frame has, in the order they first appear: files of one source
        may differ in their extra columns, and a spill holds whichever files it held."""
        spills = sorted({f for files in self.files.values() for f in files}, key=lambda f: f.name)
        schemas = [pq.read_schema(f) for f in spills] + [frame.head(0).to_arrow().schema for frame in self.frames]
        return pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])

    @property
    def columns(self) -> list[str]:
        return self._schema().names

    def clear(self) -> None:
        for path in (f for files in self.files.values() for f in files):
            path.unlink(missing_ok=True)
        self.frames, self.files, self.in_memory, self.height = [], {}, 0, 0

    def arrow(self) -> Iterator[pa.Table]:
        """All rows as Arrow tables of bounded size and one schema, for dlt (whose writer fails on a
        table lacking a column an earlier one had: an extra column in some of a source's files)."""
        schema = self._schema().remove_metadata()
        # The lineage column stays last, after extra columns only some files have (as `conform` orders them).
        if SOURCE_FILE in schema.names:
            schema = schema.remove(schema.get_field_index(SOURCE_FILE)).append(schema.field(SOURCE_FILE))

        def aligned(table: pa.Table) -> pa.Table:
            for field in schema:
                if field.name not in table.column_names:
                    table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
            return table.select(schema.names).cast(schema)

        for frame in self.frames:
            yield aligned(frame.to_arrow())
        for path in (f for files in self.files.values() for f in files):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=ARROW_BATCH_ROWS):
                yield aligned(pa.Table.from_batches([batch]))
