"""One bad row never blocks a load: bad bytes, ragged rows, truncated JSON lines, extra decimals
and a stuck dlt package, each on hand-written sources in their real export shapes."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import dlt
import duckdb
import polars as pl
import pyarrow as pa
import pytest

from ingestion import sources
from ingestion.conform import SOURCE_FILE, SOURCE_ROW, conform
from ingestion.contract import ENTITIES, decimal_problem
from ingestion.pipeline import EntityResult, IngestConfig, dlt_pipeline_for, ingest

NOT_UTF8 = "not valid UTF-8 text (a byte of another encoding)"
QUARANTINE_COLUMNS = "entity, file, row_number, column_name, value, reason"


def _config(root: Path, erp: Path | None = None) -> IngestConfig:
    return IngestConfig(
        warehouse=root / "warehouse.duckdb",
        dlt_dir=root / "dlt",
        erp_url=f"sqlite:///{erp}" if erp else None,
        landing=root / "landing",
    )


def _query(config: IngestConfig, sql: str) -> list[tuple]:
    con = duckdb.connect(str(config.warehouse), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def _results(reports: list) -> dict[str, EntityResult]:
    return {e.entity: e for r in reports for e in r.entities}


def _adds_up(result: EntityResult) -> bool:
    return result.rows_in == result.rows_loaded + result.rows_unchanged + result.rows_quarantined


def test_extra_decimals_and_oversized_amounts_are_named_never_rounded() -> None:
    assert decimal_problem("123.45") is None and decimal_problem(Decimal("-0.5")) is None
    assert decimal_problem("123.456") == "more than 2 decimals (never rounded)"
    assert decimal_problem(1e20) == "too large: at most 16 digits before the decimal point"
    assert decimal_problem("1e5").startswith("not a number with at most 2 decimals")
    assert decimal_problem("1.123456789", "rate") == "more than 8 decimals (never rounded)"
    batch = pl.DataFrame(
        {
            "payment_id": ["P1", "P2", "P3"],
            "payment_date": ["2026-06-29"] * 3,
            "amount": ["123.45", "123.456", "12345678901234567"],
            "currency": ["EUR"] * 3,
            SOURCE_FILE: ["bank.csv"] * 3,
            SOURCE_ROW: [1, 2, 3],
        }
    )
    result = conform(batch, ENTITIES["payments"], source="bank")
    assert result.rows.select("payment_id", "amount").rows() == [("P1", Decimal("123.45"))]
    assert result.quarantine.select("row_number", "value", "reason").rows() == [
        (2, "123.456", "amount: more than 2 decimals (never rounded)"),
        (3, "12345678901234567", "amount: too large: at most 16 digits before the decimal point"),
    ]


def test_each_bad_row_is_quarantined_for_the_first_check_it_fails_and_a_key_sent_twice_keeps_its_latest() -> None:
    # A bank export's shape: padded cells, blanks, a key sent twice (corrected later the same day).
    batch = pl.DataFrame(
        {
            "payment_id": ["P1", " P2 ", "P3", "", "P5", "P6", "P1", "P7"],
            "payment_date": ["2026-06-29", "2026-06-29", "29/06/2026", "2026-06-29", " ", "2026-06-30", "2026-06-29", "2026-06-29"],
            "amount": ["10.00", " 20.5 ", "30", "40", "50.123", "-5", "11.00", "1e3"],
            "currency": ["EUR", "EUR", "EUR", "EUR", "EUR", "EUR", "EUR", "XXX"],
            "updated_at": ["2026-06-29 08:00:00"] * 6 + ["2026-06-29 09:00:00", "2026-06-29 08:00:00"],
            SOURCE_FILE: ["bank.csv"] * 8,
            SOURCE_ROW: list(range(1, 9)),
        }
    )  # fmt: skip
    result = conform(batch, ENTITIES["payments"], source="bank")
    # P1's later version (row 7) is kept; P2's cells are trimmed.
    assert result.rows.select("payment_id", "amount").rows() == [("P1", Decimal("11.00")), ("P2", Decimal("20.50"))]
    assert result.quarantine.sort("row_number").select("row_number", "value", "reason").rows() == [
        (1, "P1", "payment_id: duplicate primary key; the row with the latest updated_at was kept"),
        (3, "29/06/2026", "payment_date: cannot parse as a date (YYYY-MM-DD)"),
        (4, "", "payment_id: required value is missing"),
        # a missing date and too many decimals: the date's check comes first in the contract
        (5, " ", "payment_date: required value is missing"),
        (6, "-5", "amount: payment amount must be positive"),
        # not a decimal (an exponent) and an unknown currency: the amount comes first
        (8, "1e3", "amount: cannot parse as an amount with at most 2 decimals"),
    ]
    assert result.rows_in == batch.height


def test_a_due_date_is_derived_only_where_missing_and_references_are_checked_against_known_keys() -> None:
    # An export whose due dates are all given keeps them as given, even where its terms would say
    # otherwise (I1: NET30 from 1 June would be 1 July); one with a blank derives that row's alone.
    def invoices(due_dates: list[str | None]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "invoice_id": ["I1", "I2", "I3", "I4"],
                "invoice_number": ["1", "2", "3", "4"],
                "customer_id": ["C1", "C2", " C9 ", None],
                "invoice_date": ["2026-06-01", "2026-06-15", "2026-06-20", "2026-06-20"],
                "due_date": due_dates,
                "currency": ["EUR"] * 4,
                "payment_terms_code": ["NET30", "2/10 NET45", "NET30", "NET30"],
                "invoice_amount": ["100.00", "200.00", "300.00", "400.00"],
                SOURCE_FILE: ["invoices.csv"] * 4,
                SOURCE_ROW: [1, 2, 3, 4],
            }
        )

    customers = pl.Series(["C0", "C1", "C2", "C3"])
    known = {"customer_id": (customers, "unknown customer (not in customers)")}
    given = conform(
        invoices(["2026-06-10", "2026-07-15", "2026-07-20", "2026-07-20"]),
        ENTITIES["invoices"], source="files", known_keys=known,
    )  # fmt: skip
    # C9 (padded) is not a known customer; I4 has none, which the contract requires.
    assert given.rows.select("invoice_id", "due_date").rows() == [
        ("I1", dt.date(2026, 6, 10)),
        ("I2", dt.date(2026, 7, 15)),
    ]
    assert given.quarantine.select("row_number", "value", "reason").rows() == [
        (3, " C9 ", "customer_id: unknown customer (not in customers)"),
        (4, None, "customer_id: required value is missing"),
    ]
    # I2 blank: 15 June + 45 days (the last number of "2/10 NET45") = 30 July; I3 missing: 20 June
    # + 30 days = 20 July; I1 stays as given.
    blank = conform(invoices(["2026-06-10", " ", None, "2026-07-20"]), ENTITIES["invoices"], source="files")
    assert blank.rows.select("invoice_id", "due_date").rows() == [
        ("I1", dt.date(2026, 6, 10)),
        ("I2", dt.date(2026, 7, 30)),
        ("I3", dt.date(2026, 7, 20)),
    ]


def _erp(path: Path) -> None:
    """An ERP whose customer master holds a latin-1 name in a UTF-8 database, and an invoice of 123.456."""
    con = sqlite3.connect(path)
    con.executescript(
        """
        create table customers (customer_id text primary key, customer_name text, currency text,
            credit_limit numeric(18, 2), updated_at text);
        create table invoices (invoice_id text primary key, invoice_number text, customer_id text,
            invoice_date text, due_date text, currency text, invoice_amount numeric(18, 2), updated_at text);
        """
    )
    # C1 and I1 changed two days before the others: the next load's look-back window leaves them out.
    con.executemany(
        "insert into customers values (?, cast(? as text), 'EUR', ?, ?)",
        [
            ("C1", b"Acme GmbH", 1000, "2026-06-27 08:00:00"),
            ("C2", b"M\xfcller AG", 500, "2026-06-29 08:00:00"),
            ("C3", b"Zeta Ltd", 2500.5, "2026-06-29 08:00:00"),
        ],
    )
    con.executemany(
        "insert into invoices values (?, ?, ?, '2026-06-01', '2026-07-01', 'EUR', ?, ?)",
        [
            ("I1", "1001", "C1", 100.5, "2026-06-27 08:00:00"),
            ("I2", "1002", "C3", 123.456, "2026-06-29 08:00:00"),
            ("I3", "1003", "C3", 99, "2026-06-29 08:00:00"),
            ("I4", "1004", "C2", 50, "2026-06-29 08:00:00"),
        ],
    )
    con.commit()
    con.close()


def test_a_bad_erp_row_is_quarantined_once_and_a_stuck_package_repairs_itself(tmp_path: Path) -> None:
    _erp(tmp_path / "erp.sqlite")
    config = _config(tmp_path, tmp_path / "erp.sqlite")
    first = _results(ingest(config, ["erp"]))
    assert _query(config, "select customer_id, customer_name, credit_limit from raw_erp.customers order by 1") == [
        ("C1", "Acme GmbH", Decimal("1000.00")),
        ("C3", "Zeta Ltd", Decimal("2500.50")),
    ]
    # 123.456 is not rounded to 123.46 on the way in: it is a quarantine reason.
    assert _query(config, "select invoice_id, invoice_amount from raw_erp.invoices order by 1") == [
        ("I1", Decimal("100.50")),
        ("I3", Decimal("99.00")),
    ]
    quarantine = f"select {QUARANTINE_COLUMNS} from raw_erp.quarantine order by entity, value"
    expected = [
        ("customers", "erp.customers", 2, "customer_name", "M\ufffdller AG", f"customer_name: {NOT_UTF8}"),
        (
            "invoices",
            "erp.invoices",
            2,
            "invoice_amount",
            "123.456",
            "invoice_amount: more than 2 decimals (never rounded)",
        ),
        ("invoices", "erp.invoices", 4, "customer_id", "C2", "customer_id: unknown customer (not in customers)"),
    ]
    assert _query(config, quarantine) == expected
    assert (first["customers"].rows_new, first["customers"].rows_quarantined) == (2, 1)
    assert (first["invoices"].rows_new, first["invoices"].rows_quarantined) == (2, 2)
    assert all(_adds_up(r) for r in first.values())

    # A load that died in dlt (bytes the warehouse refuses, as before this fix) leaves its package
    # pending; the next run drops it with one line and loads, and no package is left behind.
    stuck = dlt_pipeline_for("erp", config)
    bad_name = pa.array([b"X\xff"], pa.binary()).view(pa.string())
    with pytest.raises(Exception, match="not valid UTF8"):
        stuck.run(dlt.resource(pa.table({"customer_id": ["C9"], "customer_name": bad_name}), name="customers"))
    (pending,) = stuck.list_normalized_load_packages()
    con = sqlite3.connect(tmp_path / "erp.sqlite")
    con.execute("insert into customers values ('C4', 'Nova SA', 'EUR', 10, '2026-06-30 09:00:00')")
    con.commit()
    con.close()
    second = _results(ingest(config, ["erp"]))
    assert second["collectors"].warnings[0] == (
        f"erp: dropped 1 unfinished dlt load package(s) ({pending}) left by an earlier run that failed or "
        "was stopped; their rows are read and loaded again now"
    )
    assert _query(config, "select customer_id from raw_erp.customers order by 1") == [("C1",), ("C3",), ("C4",)]
    load = tmp_path / "dlt" / "o2c_erp" / "load"
    assert list((load / "normalized").iterdir()) == []
    assert len(list((load / "loaded").iterdir())) == 1  # this run's own, deleted by the next
    # The look-back window read the bad rows again, now at other positions (C1 and I1 fell out of
    # it): counted as quarantined in this load, never recorded twice.
    customers = second["customers"]
    assert (customers.rows_in, customers.rows_new, customers.rows_unchanged, customers.rows_quarantined) == (3, 1, 1, 1)
    assert (second["invoices"].rows_in, second["invoices"].rows_quarantined) == (3, 2)
    assert all(_adds_up(r) for r in second.values())
    assert _query(config, quarantine) == expected


BANK_HEADER = (
    "statement_id,bank_transaction_id,booking_date,value_date,amount,currency,counterparty_name,"
    "counterparty_account,remittance_information,transaction_code\n"
)


def test_ragged_and_undecodable_rows_of_a_bank_statement_are_quarantined_row_by_row(tmp_path: Path) -> None:
    bank = tmp_path / "landing" / "bank"
    bank.mkdir(parents=True)
    line = "STMT-20260629,{id},2026-06-29,2026-06-29,{amount},EUR,{name},DE0000877427000008,{ref},CREDIT_TRANSFER\n"
    (bank / "statement_2026-06-29.csv").write_bytes(
        (
            BANK_HEADER
            + line.format(id="BT1", amount="13.46", name="FOURTH MANUFACTURING BV", ref="INV1")
            # an unquoted comma in the remittance text: one field too many
            + line.format(id="BT2", amount="20.00", name="WOODGROVE", ref="INV2, INV3")
            # a line cut short: two fields too few
            + "STMT-20260629,BT3,2026-06-29,2026-06-29,30.00,EUR,NORTHWIND,DE0000877427000009\n"
        ).encode()
        + line.format(id="BT4", amount="40.00", name="M\xfcller GmbH", ref="INV4").encode("latin-1")
        + (
            line.format(id="BT5", amount="123.456", name="CONTOSO", ref="INV5")
            + line.format(id="BT6", amount="60.00", name="FABRIKAM", ref="INV6")
        ).encode()
    )
    (bank / "statement_2026-06-30.csv").write_text(
        BANK_HEADER + line.format(id="BT7", amount="70.10", name="LITWARE", ref="INV7")
    )
    config = _config(tmp_path)
    payments = _results(ingest(config, ["bank"]))["payments"]
    assert _query(config, "select payment_id, amount, payer_name from raw_bank.payments order by 1") == [
        ("BT1", Decimal("13.46"), "FOURTH MANUFACTURING BV"),
        ("BT6", Decimal("60.00"), "FABRIKAM"),
        ("BT7", Decimal("70.10"), "LITWARE"),
    ]
    file = "statement_2026-06-29.csv"
    assert _query(config, f"select {QUARANTINE_COLUMNS} from raw_bank.quarantine order by row_number") == [
        ("payments", file, 2, None, line.format(id="BT2", amount="20.00", name="WOODGROVE", ref="INV2, INV3")[:-1],
         "ragged row: 11 fields where the header has 10 (line 3)"),
        ("payments", file, 3, None, "STMT-20260629,BT3,2026-06-29,2026-06-29,30.00,EUR,NORTHWIND,DE0000877427000009",
         "ragged row: 8 fields where the header has 10 (line 4)"),
        ("payments", file, 4, "counterparty_name", None, f"counterparty_name: {NOT_UTF8}"),
        ("payments", file, 5, "amount", "123.456", "amount: more than 2 decimals (never rounded)"),
    ]  # fmt: skip
    assert (payments.rows_in, payments.rows_new, payments.rows_quarantined, payments.files_failed) == (7, 3, 4, 0)
    assert payments.warnings[0] == (
        f"bank: file {file}: 1 row(s) hold bytes that are not UTF-8 text and are quarantined; an encoding is never "
        "guessed: a file written in another one (cp1252, latin-1 …) is declared as `encoding` in the mapping file"
    )


def test_a_truncated_json_line_blocks_neither_its_file_nor_the_later_ones(tmp_path: Path) -> None:
    processor = tmp_path / "landing" / "processor"
    processor.mkdir(parents=True)
    charge = (
        '{{"id":"{id}","object":"charge","created":"2026-06-29T10:30:00Z","amount":"{amount}","currency":"eur",'
        '"customer":"C000015","payment_method_type":"card","description":"{text}","charge":null,"status":"succeeded"}}\n'
    )
    # The first new file: a description in latin-1, and a last line cut off mid-write. Every
    # `charge` of its good lines is null, the next file's refund has one (the column that failed to stack).
    (processor / "payments_2026-06-29.jsonl").write_bytes(
        charge.format(id="ch_1", amount="7750.10", text="Invoice INV1").encode()
        + charge.format(id="ch_2", amount="10.00", text="Rechnung f\xfcr INV2").encode("latin-1")
        + b'{"id":"ch_3","object":"charge","created":"2026-06-29T11:00:00Z","amount":"12'
    )
    (processor / "payments_2026-06-30.jsonl").write_text(
        '{"id":"re_1","object":"refund","created":"2026-06-30T09:00:00Z","amount":"50.00","currency":"eur",'
        '"customer":"C000015","payment_method_type":"card","description":null,"charge":"ch_1","status":"succeeded"}\n'
        + charge.format(id="ch_4", amount="250.00", text="Invoice INV4")
    )
    config = _config(tmp_path)
    payments = _results(ingest(config, ["processor"]))["payments"]
    rows = "select payment_id, payment_type, amount, original_payment_id from raw_processor.payments order by 1"
    assert _query(config, rows) == [
        ("ch_1", "payment", Decimal("7750.10"), None),
        ("ch_4", "payment", Decimal("250.00"), None),
        ("re_1", "refund", Decimal("50.00"), "ch_1"),
    ]
    assert _query(config, f"select {QUARANTINE_COLUMNS} from raw_processor.quarantine order by row_number") == [
        ("payments", "payments_2026-06-29.jsonl", 2, "description", None, f"description: {NOT_UTF8}"),
        ("payments", "payments_2026-06-29.jsonl", 3, None,
         '{"id":"ch_3","object":"charge","created":"2026-06-29T11:00:00Z","amount":"12',
         "invalid JSON: the line is not a complete JSON object"),
    ]  # fmt: skip
    assert (payments.rows_in, payments.rows_new, payments.rows_quarantined, payments.files_failed) == (5, 3, 2, 0)
    # Nothing stays blocked: the next run has nothing left to read.
    again = _results(ingest(config, ["processor"]))["payments"]
    assert (again.files_read, again.rows_in) == (0, 0)
    assert dt.date(2026, 6, 30) == _query(config, "select max(payment_date) from raw_processor.payments")[0][0]


def test_a_file_loaded_before_is_hashed_not_parsed_and_a_changed_one_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = tmp_path / "landing" / "bank"
    bank.mkdir(parents=True)
    header = "bank_transaction_id,statement_id,booking_date,value_date,amount,currency,counterparty_name,remittance_information\n"
    first = bank / "statement_2026-06-29.csv"
    first.write_text(header + "B1,S1,2026-06-29,2026-06-29,100.00,EUR,Acme,INV1\n")
    (bank / "statement_2026-06-30.csv").write_text(header + "B2,S2,2026-06-30,2026-06-30,40.00,EUR,Acme,INV2\n")
    config = _config(tmp_path)
    assert _results(ingest(config, ["bank"]))["payments"].files_read == 2
    parsed: list[str] = []
    read_csv_file, read_csv_files = sources.read_csv_file, sources.read_csv_files
    monkeypatch.setattr(sources, "read_csv_file", lambda path, *a: parsed.append(path.name) or read_csv_file(path, *a))
    monkeypatch.setattr(
        sources, "read_csv_files", lambda paths, *a: parsed.extend(p.name for p in paths) or read_csv_files(paths, *a)
    )
    again = _results(ingest(config, ["bank"]))["payments"]
    assert (again.files_read, again.rows_in, parsed) == (0, 0, [])
    # The same name with other bytes (a corrected statement) is parsed and merged again.
    first.write_text(header + "B1,S1,2026-06-29,2026-06-29,100.50,EUR,Acme,INV1\n")
    changed = _results(ingest(config, ["bank"]))["payments"]
    assert (changed.files_read, changed.rows_in, parsed) == (1, 1, ["statement_2026-06-29.csv"])
    amounts = "select payment_id, amount from raw_bank.payments order by 1"
    assert _query(config, amounts) == [("B1", Decimal("100.50")), ("B2", Decimal("40.00"))]
