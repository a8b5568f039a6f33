"""Write a snapshot out as real source systems: an ERP database and landing files."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from ingestion.contract import ENTITIES, ERP_ENTITIES, ColumnType

_SA_TYPES: dict[ColumnType, sa.types.TypeEngine] = {
    "string": sa.String(200),
    "int": sa.BigInteger(),
    "money": sa.Numeric(18, 2),
    "rate": sa.Numeric(18, 8),
    "date": sa.Date(),
    "timestamp": sa.DateTime(),
    "bool": sa.Boolean(),
}

LANDING = "landing"


# The simulated ERP keeps its receipts in the processor and bank files, not in a table of its
# own, and states due dates rather than terms days on invoices: like many real ERPs, it has less
# than the contract allows.
SIMULATED_ERP_ENTITIES = tuple(name for name in ERP_ENTITIES if name != "payments")
_NOT_IN_SIMULATED_ERP = {("invoices", "payment_terms_days"), ("payments", "invoice_id")}


def erp_columns(name: str) -> list[str]:
    """The contract columns of an entity that the simulated ERP has."""
    return [c for c in ENTITIES[name].column_names if (name, c) not in _NOT_IN_SIMULATED_ERP]


def erp_metadata() -> sa.MetaData:
    """ERP tables typed from the contract, as a typical ERP would declare them."""
    metadata = sa.MetaData()
    for name in SIMULATED_ERP_ENTITIES:
        entity = ENTITIES[name]
        sa.Table(
            name,
            metadata,
            *[
                sa.Column(c.name, _SA_TYPES[c.type], primary_key=c.name in entity.primary_key, nullable=not c.required)
                for c in entity.columns
                if c.name in erp_columns(name)
            ],
            sa.Index(f"ix_{name}_updated_at", "updated_at"),
        )
    return metadata


def _as_sqlite_stores_it(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Values the way SQLAlchemy stores them in SQLite: dates and timestamps as ISO text, amounts
    as REAL, booleans as 0/1, so a bulk-written ERP reads back exactly like one written row by row."""
    storage = {
        "date": lambda c: c.dt.strftime("%Y-%m-%d"),
        "timestamp": lambda c: c.dt.strftime("%Y-%m-%d %H:%M:%S.%6f"),
        "money": lambda c: c.cast(pl.Float64),
        "rate": lambda c: c.cast(pl.Float64),
        "bool": lambda c: c.cast(pl.Int64),
    }
    return frame.with_columns(
        storage[c.type](pl.col(c.name)).alias(c.name) for c in ENTITIES[name].columns if c.type in storage
    )


def _bulk_write_sqlite(path: str, tables: dict[str, pl.DataFrame]) -> None:
    """Fill the freshly created tables through ADBC in Arrow batches: ten million invoices
    in minutes, where row-by-row inserts take an hour."""
    import adbc_driver_sqlite.dbapi as driver

    with driver.connect(path) as connection, connection.cursor() as cursor:
        for name in _present(tables):
            frame = _as_sqlite_stores_it(tables[name].select(erp_columns(name)), name)
            for part in frame.iter_slices(500_000):
                cursor.adbc_ingest(name, part.to_arrow(), mode="append")
        connection.commit()


def _present(tables: dict[str, pl.DataFrame]) -> list[str]:
    return [name for name in SIMULATED_ERP_ENTITIES if name in tables]


def write_erp(
    url: str, tables: dict[str, pl.DataFrame], *, changed_since: dt.datetime | None, create: bool = True
) -> dict[str, int]:
    """Fill the ERP (changed_since=None) or upsert the rows changed after `changed_since`.

    A fill creates the tables afresh unless `create` is False (a later shard of the same world
    adds its rows). Upserts are delete-then-insert by primary key in one transaction, which
    every SQL database supports. Returns rows written per table. SQLite fills go in bulk.
    """
    engine = sa.create_engine(url)
    metadata = erp_metadata()
    written: dict[str, int] = {}
    parsed = sa.engine.make_url(url)
    fresh = changed_since is None and create
    if changed_since is None and parsed.get_backend_name() == "sqlite" and parsed.database:
        if fresh:
            with engine.begin() as conn:
                metadata.drop_all(conn)
                metadata.create_all(conn)
        engine.dispose()
        _bulk_write_sqlite(parsed.database, tables)
        return {name: tables[name].height for name in _present(tables)}
    with engine.begin() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore", sa.exc.SAWarning)  # SQLite stores Numeric as REAL
        if fresh:
            metadata.drop_all(conn)
            metadata.create_all(conn)
        for name in _present(tables):
            table = metadata.tables[name]
            frame = tables[name].select(erp_columns(name))
            if changed_since is not None:
                frame = frame.filter(pl.col("updated_at") > changed_since)
                (key,) = ENTITIES[name].primary_key
                keys = frame[key].to_list()
                for i in range(0, len(keys), 10_000):
                    conn.execute(table.delete().where(table.c[key].in_(keys[i : i + 10_000])))
            # Insert in slices so memory stays flat however large the world is.
            for part in frame.iter_slices(50_000):
                conn.execute(table.insert(), part.to_dicts())
            written[name] = frame.height
    engine.dispose()
    return written


def _day_label(start: dt.date, day: int) -> str:
    return (start + dt.timedelta(days=day)).isoformat()


def write_processor_files(folder: Path, records: pl.DataFrame, start: dt.date) -> list[Path]:
    """One JSON-lines export per day with activity, as payment processors deliver them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for (day,), rows in records.partition_by("day", as_dict=True, maintain_order=True).items():
        path = folder / f"payments_{_day_label(start, day)}.jsonl"
        rows.drop("day").write_ndjson(path)
        paths.append(path)
    return paths


def write_bank_files(folder: Path, records: pl.DataFrame, start: dt.date, days: range) -> list[Path]:
    """One statement CSV per business day, empty days included (a bank always sends one)."""
    folder.mkdir(parents=True, exist_ok=True)
    epoch_days = (start - dt.date(1970, 1, 1)).days
    by_day = records.partition_by("day", as_dict=True, maintain_order=True)
    empty = records.clear().drop("day")
    paths = []
    for day in days:
        if (day + epoch_days - 4) % 7 >= 5:
            continue
        path = folder / f"statement_{_day_label(start, day)}.csv"
        by_day.get((day,), empty.with_columns(pl.lit(0).alias("day"))).drop("day").write_csv(path)
        paths.append(path)
    return paths


def write_fx_files(folder: Path, records: pl.DataFrame) -> list[Path]:
    """One CSV per month in the contract's fx_rates layout; the current month grows daily."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    monthly = records.with_columns(pl.col("rate_date").dt.strftime("%Y-%m").alias("month"))
    for (month,), rows in monthly.partition_by("month", as_dict=True, maintain_order=True).items():
        path = folder / f"fx_rates_{month}.csv"
        rows.drop("day", "month").write_csv(path)
        paths.append(path)
    return paths


def write_parquet(folder: Path, frames: dict[str, pl.DataFrame]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.write_parquet(folder / f"{name}.parquet", statistics=False)
