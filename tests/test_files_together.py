"""A source's files of one layout are read in one pass: each row keeps the file and the row number
it has when its file is read alone, and a file that needs a closer look is read alone."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion import sources
from ingestion.conform import SOURCE_FILE, SOURCE_ROW
from ingestion.pipeline import EntityResult, IngestConfig, ingest
from ingestion.spill import SpilledRows

BANK_HEADER = "bank_transaction_id,value_date,amount,currency,counterparty_name,remittance_information"


def _write(folder: Path, name: str, content: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _alone(paths: list[Path], root: Path, read) -> pl.DataFrame:
    return pl.concat([read(p, root).rows for p in paths], how="diagonal")


def _by_file_and_row(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(SOURCE_FILE, SOURCE_ROW)


def test_csv_files_of_one_header_read_together_give_each_file_its_own_rows_and_numbers(tmp_path: Path) -> None:
    bank = tmp_path / "bank"
    bank.mkdir()
    files = [
        # Windows line ends, a quoted comma and a quoted line break inside one value.
        _write(
            bank,
            "a.csv",
            f'{BANK_HEADER}\r\nBT1,2026-06-01,10.00,EUR,"Acme, Inc.",INV1\r\n'
            'BT2,2026-06-01,20.00,EUR,Acme,"INV2\r\nINV3"\r\n',
        ),
        # A byte-order mark and no line break after the last row.
        _write(bank, "b.csv", b"\xef\xbb\xbf" + f"{BANK_HEADER}\nBT3,2026-06-02,30.00,EUR,Beta,INV4".encode()),
        _write(bank, "c.csv", f"{BANK_HEADER}\n"),  # a day without receipts
        # A quoted empty value is text, an empty one is null, as in a file read alone.
        _write(bank, "d.csv", f'{BANK_HEADER}\nBT4,2026-06-03,40.00,EUR,"",\nBT5,2026-06-03,50.00,USD,,INV5\n'),
        # Another export's column order: a layout of its own, read in its own pass.
        _write(
            bank,
            "e.csv",
            "amount,bank_transaction_id,value_date,currency,counterparty_name,remittance_information\n"
            "60.00,BT6,2026-06-04,EUR,Gamma,INV6\n",
        ),
    ]
    groups, alone = sources.read_csv_files(files, bank)
    assert alone == []
    assert [g.files for g in groups] == [["a.csv", "b.csv", "c.csv", "d.csv"], ["e.csv"]]
    together = _by_file_and_row(pl.concat([g.rows for g in groups], how="diagonal"))
    assert together.select(SOURCE_FILE, SOURCE_ROW, "bank_transaction_id", "counterparty_name").rows() == [
        ("a.csv", 1, "BT1", "Acme, Inc."),
        ("a.csv", 2, "BT2", "Acme"),
        ("b.csv", 1, "BT3", "Beta"),
        ("d.csv", 1, "BT4", ""),
        ("d.csv", 2, "BT5", None),
        ("e.csv", 1, "BT6", "Gamma"),
    ]
    assert together.filter(pl.col("bank_transaction_id") == "BT2")["remittance_information"].item() == "INV2\r\nINV3"
    alone_rows = _by_file_and_row(_alone(files, bank, sources.read_csv_file)).select(together.columns)
    assert together.equals(alone_rows)
    assert groups[0].digests == [sources.sha256_of(f) for f in files[:4]]


def test_a_csv_file_that_needs_a_closer_look_sends_its_pass_back_to_one_file_at_a_time(tmp_path: Path) -> None:
    bank = tmp_path / "bank"
    bank.mkdir()
    good = _write(bank, "a.csv", f"{BANK_HEADER}\nBT1,2026-06-01,10.00,EUR,Acme,INV1\n")
    ragged = _write(bank, "b.csv", f"{BANK_HEADER}\nBT2,2026-06-01,20.00,EUR,Acme,INV2,extra\n")
    assert sources.read_csv_files([good, ragged], bank) == ([], [good, ragged])
    # A header repeated inside a file would read as the start of another file.
    repeated = _write(bank, "c.csv", f"{BANK_HEADER}\nBT3,2026-06-01,30.00,EUR,Acme,INV3\n{BANK_HEADER}\n")
    assert sources.read_csv_files([good, repeated], bank) == ([], [good, repeated])
    latin1 = _write(bank, "d.csv", f"{BANK_HEADER}\nBT4,2026-06-01,40.00,EUR,M\xfcller,INV4\n".encode("latin-1"))
    assert sources.read_csv_files([good, latin1], bank) == ([], [good, latin1])
    # A file in another encoding is read alone, where it is decoded.
    assert sources.read_csv_files([good], bank, ",", "cp1252") == ([], [good])


CHARGE = (
    '{{"id":"{id}","object":"charge","created":"2026-06-29T10:30:00Z","amount":{amount},"currency":"eur",'
    '"customer":"C1","description":"Invoice {id}","charge":{charge}}}\n'
)


def test_json_lines_files_read_together_match_each_read_alone_and_odd_files_go_alone(tmp_path: Path) -> None:
    processor = tmp_path / "processor"
    processor.mkdir()
    files = [
        _write(processor, "p1.jsonl", CHARGE.format(id="ch_1", amount='"10.00"', charge="null") * 1),
        _write(
            processor,
            "p2.jsonl",
            CHARGE.format(id="ch_2", amount='"20.00"', charge="null")
            + CHARGE.format(id="re_1", amount='"5.00"', charge='"ch_1"').rstrip("\n"),
        ),
        # Whole-number amounts (a processor's cents) stay whole numbers.
        _write(processor, "p3.jsonl", CHARGE.format(id="ch_3", amount="3000", charge="null")),
    ]
    groups, alone = sources.read_jsonl_files(files, processor, sources.PROCESSOR_REQUIRED)
    assert alone == [] and [g.files for g in groups] == [["p1.jsonl", "p2.jsonl", "p3.jsonl"]]
    together = _by_file_and_row(groups[0].rows)
    assert together.select(SOURCE_FILE, SOURCE_ROW, "id", "amount", "charge").rows() == [
        ("p1.jsonl", 1, "ch_1", "10.00", None),
        ("p2.jsonl", 1, "ch_2", "20.00", None),
        ("p2.jsonl", 2, "re_1", "5.00", "ch_1"),
        ("p3.jsonl", 1, "ch_3", "3000", None),
    ]
    alone_rows = _by_file_and_row(_alone(files, processor, sources.read_jsonl_file)).select(together.columns)
    assert together.equals(alone_rows)
    # A decimal number among text amounts reads as the text it is alone ("12.5"); among whole
    # numbers alone, together it would make them floating point ("3000.0"): that pass goes alone.
    decimal = _write(processor, "p4.jsonl", CHARGE.format(id="ch_5", amount="12.5", charge="null"))
    [mixed], _ = sources.read_jsonl_files([*files, decimal], processor, sources.PROCESSOR_REQUIRED)
    assert _by_file_and_row(mixed.rows)["amount"].to_list() == ["10.00", "20.00", "5.00", "3000", "12.5"]
    assert sources.read_jsonl_files([files[2], decimal], processor) == ([], [files[2], decimal])
    # Each of these is read alone, and so is the pass it was in.
    odd = {
        "blank line": CHARGE.format(id="ch_4", amount='"4.00"', charge="null") + "\n",
        "no currency key": CHARGE.format(id="ch_6", amount='"6.00"', charge="null").replace('"currency":"eur",', ""),
        "not JSON": '{"id":"ch_7","amount":"7',
    }
    for why, content in odd.items():
        path = _write(processor, "odd.jsonl", content.encode("latin-1"))
        assert sources.read_jsonl_files([*files, path], processor, sources.PROCESSOR_REQUIRED) == (
            [],
            [*files, path],
        ), why
    # A file whose bytes are not UTF-8 is read alone (to mark its row); the others stay together.
    latin1 = CHARGE.format(id="ch_8", amount='"8.00"', charge="null").replace("Invoice", "F\xfcr")
    path = _write(processor, "odd.jsonl", latin1.encode("latin-1"))
    groups, alone = sources.read_jsonl_files([*files, path], processor, sources.PROCESSOR_REQUIRED)
    assert alone == [path] and [g.files for g in groups] == [["p1.jsonl", "p2.jsonl", "p3.jsonl"]]
    assert _by_file_and_row(groups[0].rows).equals(together)
    [problem] = sources.read_jsonl_file(path, processor).rows["_source_problem"].to_list()
    assert problem == "description: not valid UTF-8 text (a byte of another encoding)"


def test_json_lines_past_the_rows_polars_infers_from_are_typed_as_from_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past INFER_ROWS, the chunk is typed from its first rows once DuckDB finds no other key: a
    key, a type or a value met only later gives what typing from every row gives."""
    processor = tmp_path / "processor"
    processor.mkdir()
    first = "".join(CHARGE.format(id=f"ch_{n}", amount=f'"{n}.00"', charge="null") for n in range(sources.INFER_ROWS))
    later = {
        # no such key in the first rows (a refund's reference)
        "a key": CHARGE.format(id="re_1", amount='"5.00"', charge='"ch_1"').replace('"charge"', '"refunds"'),
        # null in every first row
        "a value where the first rows had nulls": CHARGE.format(id="re_2", amount='"5.00"', charge='"ch_2"'),
        # a whole number where the first rows had nulls, an object where they had no such key, a
        # boolean where they had text
        "a whole number where the first rows had nulls": CHARGE.format(id="re_3", amount='"5.00"', charge="5"),
        "an object": CHARGE.format(id="ch_o", amount='"5.00"', charge="null").replace("}\n", ',"meta":{"a":1}}\n'),
        "a boolean among text": CHARGE.format(id="ch_b", amount="true", charge="null"),
        # a number where the first rows had text (last: the amounts are checked below)
        "a number among text": CHARGE.format(id="ch_x", amount="12", charge="null"),
    }
    full_reads = []
    read_ndjson = pl.read_ndjson

    def counting(*args, **kwargs):
        full_reads.append(kwargs.get("infer_schema_length", 100) is None)
        return read_ndjson(*args, **kwargs)

    monkeypatch.setattr(pl, "read_ndjson", counting)
    clean = _write(processor, "clean.jsonl", first + CHARGE.format(id="ch_z", amount='"1.00"', charge="null"))
    [group], alone = sources.read_jsonl_files([clean], processor, sources.PROCESSOR_REQUIRED)
    assert alone == [] and group.rows.height == sources.INFER_ROWS + 1
    assert full_reads == [False], "a chunk whose first rows hold every key and type is not typed twice"
    for why, line in later.items():
        path = _write(processor, "later.jsonl", first + line)
        [group], alone = sources.read_jsonl_files([path], processor, sources.PROCESSOR_REQUIRED)
        every_row = sources._as_text(read_ndjson(path, infer_schema_length=None))
        assert alone == [] and group.rows.select(every_row.columns).equals(every_row), why
        assert group.rows.row(-1, named=True)[SOURCE_ROW] == sources.INFER_ROWS + 1, why
    assert group.rows["amount"][-2:].to_list() == ["9999.00", "12"]
    # Read alone, as typing from every row sends them: a fraction among whole numbers or where the
    # first rows had nulls (floating point), a list, a line that is not a JSON object.
    whole = "".join(CHARGE.format(id=f"ch_{n}", amount=str(n), charge="null") for n in range(sources.INFER_ROWS))
    alone_after = {
        "a fraction among whole numbers": whole + CHARGE.format(id="ch_y", amount="12.5", charge="null"),
        "a fraction where the first rows had nulls": first + CHARGE.format(id="re_4", amount='"5.00"', charge="5.5"),
        "a list": first + CHARGE.format(id="ch_l", amount='"5.00"', charge="[1, 2]"),
        "a truncated line": first + '{"id":"ch_t","amount":"7\n',
        "an array": first + "[1, 2]\n",
    }
    for why, content in alone_after.items():
        path = _write(processor, "later.jsonl", content)
        assert sources.read_jsonl_files([path], processor, sources.PROCESSOR_REQUIRED) == ([], [path]), why


def _query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def _config(tmp_path: Path, **settings: object) -> IngestConfig:
    """An ingestion into a warehouse of its own under tmp_path, with no ERP."""
    return IngestConfig(
        warehouse=tmp_path / "warehouse.duckdb",
        dlt_dir=tmp_path / "dlt",
        erp_url=None,
        landing=tmp_path / "landing",
        **settings,
    )


def test_a_file_lacking_a_required_column_fails_alone_and_its_neighbours_load(tmp_path: Path) -> None:
    bank = tmp_path / "landing" / "bank"
    bank.mkdir(parents=True)
    for day, rows in ((1, 2), (2, 3), (3, 1)):
        lines = "".join(f"BT{day}{n},2026-06-0{day},{day}{n}.50,EUR,Acme,INV{day}{n}\n" for n in range(rows))
        _write(bank, f"statement_2026-06-0{day}.csv", f"{BANK_HEADER}\n{lines}")
    # The same export without its amount column (two files of that layout).
    for day in (4, 5):
        _write(
            bank,
            f"statement_2026-06-0{day}.csv",
            f"bank_transaction_id,value_date,currency\nBT{day},2026-06-0{day},EUR\n",
        )
    config = _config(tmp_path)
    [report] = ingest(config, ["bank"])
    payments: EntityResult = report.entities[0]
    assert (payments.files_read, payments.files_failed, payments.rows_in) == (5, 2, 8)
    assert (payments.rows_new, payments.rows_quarantined) == (6, 2)
    assert payments.rows_in == payments.rows_loaded + payments.rows_unchanged + payments.rows_quarantined
    assert _query(config.warehouse, "select file, rows_in, rows_quarantined from raw_bank._o2c_files order by 1") == [
        ("statement_2026-06-01.csv", 2, 0),
        ("statement_2026-06-02.csv", 3, 0),
        ("statement_2026-06-03.csv", 1, 0),
        ("statement_2026-06-04.csv", 1, 1),
        ("statement_2026-06-05.csv", 1, 1),
    ]
    loaded = (
        Decimal("10.50") + Decimal("11.50") + Decimal("20.50") + Decimal("21.50") + Decimal("22.50") + Decimal("30.50")
    )
    assert _query(config.warehouse, "select sum(amount), count(*) from raw_bank.payments") == [(loaded, 6)]
    reasons = _query(config.warehouse, "select file, row_number, column_name from raw_bank.quarantine order by 1")
    assert reasons == [("statement_2026-06-04.csv", 1, "amount"), ("statement_2026-06-05.csv", 1, "amount")]


def test_exports_without_a_cursor_are_stamped_with_their_own_file_time_when_read_together(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    stamps = {"customers_north.csv": dt.datetime(2026, 5, 1, 8, 0), "customers_south.csv": dt.datetime(2026, 6, 2, 9)}
    for (name, stamp), customer in zip(stamps.items(), ("C1", "C2"), strict=True):
        path = _write(folder, name, f"customer_id,customer_name\n{customer},Name of {customer}\n")
        seconds = stamp.replace(tzinfo=dt.UTC).timestamp()
        os.utime(path, (seconds, seconds))
    config = _config(tmp_path, contract_dir=folder)
    ingest(config, ["files"])
    assert _query(config.warehouse, "select customer_id, updated_at from raw_files.customers order by 1") == [
        ("C1", stamps["customers_north.csv"]),
        ("C2", stamps["customers_south.csv"]),
    ]


def test_spilled_rows_of_files_with_different_extra_columns_reach_dlt_in_one_schema(tmp_path: Path) -> None:
    """Files of one source may carry extra columns only some of them have; once spilled, each spill
    holds whichever files it held. dlt's writer fails on a table lacking a column an earlier table
    had, and a quarantined row's record would depend on its bucket's neighbours."""
    rows = SpilledRows(tmp_path / "spill", limit=2, key=["id"])
    rows.add(pl.DataFrame({"id": ["a", "b"], SOURCE_FILE: ["f1", "f1"]}))
    rows.add(pl.DataFrame({"id": ["c"], "channel": ["web"], SOURCE_FILE: ["f2"]}))
    rows.add(pl.DataFrame({"id": ["d", "e"], SOURCE_FILE: ["f3", "f3"]}))
    assert rows.spills == 2 and rows.columns == ["id", SOURCE_FILE, "channel"]
    tables = list(rows.arrow())
    assert {tuple(t.column_names) for t in tables} == {("id", "channel", SOURCE_FILE)}
    assert len({t.schema for t in tables}) == 1
    together = pl.concat([pl.from_arrow(t) for t in tables]).sort("id")
    assert together.rows() == [
        ("a", None, "f1"),
        ("b", None, "f1"),
        ("c", "web", "f2"),
        ("d", None, "f3"),
        ("e", None, "f3"),
    ]
    buckets = list(rows.buckets())
    assert all(b.columns == ["id", SOURCE_FILE, "channel"] for b in buckets)
    assert sorted(pl.concat(buckets)["id"].to_list()) == ["a", "b", "c", "d", "e"]


def test_a_companys_day_first_exports_read_together_load_as_each_would_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A month's export per file, semicolons, day-first dates and decimal commas (mapping file):
    the files of one layout take the one-pass read, and the mapping reads them as it reads a
    file alone: 03/04/2026 is the 3rd of April, an impossible date is quarantined with its file,
    row and value, and its neighbours load."""
    exports = tmp_path / "exports"
    exports.mkdir()
    _write(
        exports,
        "o2c-mapping.toml",
        '[defaults]\ndelimiter = ";"\ndate_format = "%d/%m/%Y"\ndecimal_separator = ","\n'
        'thousands_separator = "."\ncurrency = "EUR"\n'
        '[entities.customers]\nfiles = ["Debtors.csv"]\n'
        '[entities.customers.columns]\ncustomer_id = "Account"\ncustomer_name = "Name"\n'
        '[entities.invoices]\nfiles = ["AR_*.csv"]\n'
        "[entities.invoices.columns]\n"
        'invoice_id = "Doc"\ninvoice_number = "Doc"\ncustomer_id = "Account"\n'
        'invoice_date = "Posted"\ndue_date = "Due"\ninvoice_amount = "Amount"\n',
    )
    _write(exports, "Debtors.csv", "Account;Name\nC1;Alpha\nC2;Beta\n")
    header = "Doc;Account;Posted;Due;Amount\n"
    months = {
        "AR_2026-03.csv": "I1;C1;12/03/2026;11/04/2026;1.234,56\nI2;C2;31/03/2026;30/04/2026;99,90\n",
        # 03/04 day first: the 3rd of April, due the 3rd of May; 31/02 is no date.
        "AR_2026-04.csv": "I3;C1;03/04/2026;03/05/2026;2.000,00\nI4;C2;31/02/2026;01/05/2026;10,00\n",
        "AR_2026-05.csv": "I5;C2;01/05/2026;31/05/2026;0,05\n",
    }
    files = [_write(exports, name, header + rows) for name, rows in months.items()]
    # The one-pass read takes all three files (none is sent back to be read alone).
    groups, alone = sources.read_csv_files(files, exports, ";", "utf-8")
    assert alone == [] and [g.files for g in groups] == [list(months)]

    def read_alone(path: Path, *_: object) -> None:
        raise AssertionError(f"{path.name} was read alone")

    monkeypatch.setattr(sources, "read_csv_file", read_alone)

    config = _config(tmp_path, contract_dir=exports)
    ingest(config, ["files"])
    assert _query(
        config.warehouse, "select invoice_id, invoice_date, due_date, invoice_amount from raw_files.invoices order by 1"
    ) == [
        ("I1", dt.date(2026, 3, 12), dt.date(2026, 4, 11), Decimal("1234.56")),
        ("I2", dt.date(2026, 3, 31), dt.date(2026, 4, 30), Decimal("99.90")),
        ("I3", dt.date(2026, 4, 3), dt.date(2026, 5, 3), Decimal("2000.00")),
        ("I5", dt.date(2026, 5, 1), dt.date(2026, 5, 31), Decimal("0.05")),
    ]
    assert _query(
        config.warehouse, "select entity, file, row_number, column_name, value, reason from raw_files.quarantine"
    ) == [
        (
            "invoices",
            "AR_2026-04.csv",
            2,
            "invoice_date",
            "31/02/2026",
            "invoice_date: cannot parse as a date (%d/%m/%Y, the mapping's date_format, or YYYY-MM-DD)",
        )
    ]
    assert _query(
        config.warehouse,
        "select entity, rows_in, rows_new, rows_quarantined from raw_files._o2c_load_log where entity = 'invoices'",
    ) == [("invoices", 5, 4, 1)]
