"""Fault injection: the kinds of bad input real source systems send.

Every injected fault is recorded (ground_truth in the simulator state) with where it is and how
ingestion must react, so tests and data-quality checks can prove each one is caught.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from simulator import writers

HTML_ERROR_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n"


def _fault(
    fault: str, source: str, entity: str, file: str, column: str | None, value: str | None, expect: str, reason: str
) -> dict[str, object]:
    return {
        "fault": fault,
        "source": source,
        "entity": entity,
        "file": file,
        "column": column,
        "value": value,
        "expect": expect,
        "reason": reason,
    }


def _edit_jsonl(path: Path, line: int, changes: dict[str, str]) -> None:
    lines = path.read_text().splitlines()
    record = json.loads(lines[line])
    record.update(changes)
    lines[line] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")


def _edit_csv(path: Path, row: int, column: str, value: str) -> None:
    frame = pl.read_csv(path, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )
    frame.write_csv(path)


def inject(sources_dir: Path, erp_url: str) -> list[dict[str, object]]:
    landing = sources_dir / writers.LANDING
    rel = lambda p: p.name  # noqa: E731  (as the connector names it: relative to its folder)
    processor = sorted(p for p in (landing / "processor").glob("*.jsonl") if len(p.read_text().splitlines()) >= 3)
    bank = sorted(p for p in (landing / "bank").glob("*.csv") if pl.read_csv(p, infer_schema=False).height >= 2)
    if len(processor) < 6 or len(bank) < 8:
        raise ValueError("the world is too small to inject every fault: simulate more customers or days")
    injected: list[dict[str, object]] = []

    # Processor export faults, one file each.
    path = processor[0]
    first_line = path.read_text().splitlines()[0]
    path.write_text(path.read_text() + first_line + "\n")
    injected.append(
        _fault(
            "duplicate_rows",
            "processor",
            "payments",
            rel(path),
            "payment_id",
            json.loads(first_line)["id"],
            "quarantine",
            "duplicate primary key",
        )
    )
    _edit_jsonl(processor[1], 0, {"amount": "-" + json.loads(processor[1].read_text().splitlines()[0])["amount"]})
    injected.append(
        _fault(
            "negative_amount",
            "processor",
            "payments",
            rel(processor[1]),
            "amount",
            None,
            "quarantine",
            "must be positive",
        )
    )
    _edit_jsonl(processor[2], 0, {"currency": "xyz"})
    injected.append(
        _fault(
            "unknown_currency",
            "processor",
            "payments",
            rel(processor[2]),
            "currency",
            "XYZ",
            "quarantine",
            "unknown currency",
        )
    )
    _edit_jsonl(processor[3], 0, {"customer": "C999999"})
    injected.append(
        _fault(
            "orphan_payment",
            "processor",
            "payments",
            rel(processor[3]),
            "customer_id",
            "C999999",
            "quarantine",
            "unknown customer",
        )
    )
    path = processor[4]
    path.write_text(path.read_text() + '{"id": "ch_truncated", "object": "charge", "amount": "12\n')
    injected.append(
        _fault("malformed_json", "processor", "payments", rel(path), None, None, "quarantine", "invalid JSON")
    )

    # Bank statement faults.
    _edit_csv(bank[0], 1, "amount", "0.00")
    injected.append(
        _fault("zero_amount", "bank", "payments", rel(bank[0]), "amount", "0.00", "quarantine", "must be positive")
    )
    _edit_csv(bank[1], 0, "value_date", "31/12/2024")
    injected.append(
        _fault(
            "malformed_date",
            "bank",
            "payments",
            rel(bank[1]),
            "payment_date",
            "31/12/2024",
            "quarantine",
            "cannot parse",
        )
    )
    _edit_csv(bank[2], 0, "amount", "1.234,56")
    injected.append(
        _fault("malformed_amount", "bank", "payments", rel(bank[2]), "amount", "1.234,56", "quarantine", "cannot parse")
    )
    path = bank[3]
    path.write_text(path.read_text() + path.read_text().splitlines()[1] + "\n")
    injected.append(
        _fault(
            "duplicate_rows", "bank", "payments", rel(path), "payment_id", None, "quarantine", "duplicate primary key"
        )
    )
    broken = bank[4].with_name(bank[4].stem + "_retry.csv")
    broken.write_text(HTML_ERROR_PAGE)
    injected.append(
        _fault(
            "malformed_file", "bank", "payments", rel(broken), None, None, "file_error", "unreadable or not a bank file"
        )
    )
    frame = pl.read_csv(bank[5], infer_schema=False)
    frame.with_columns(pl.lit("SEPA").alias("channel_code")).write_csv(bank[5])
    injected.append(
        _fault(
            "schema_drift_new_column",
            "bank",
            "payments",
            rel(bank[5]),
            "channel_code",
            None,
            "warning",
            "not in the payments contract",
        )
    )
    frame = pl.read_csv(bank[6], infer_schema=False)
    frame.drop("amount").write_csv(bank[6])
    injected.append(
        _fault(
            "schema_drift_missing_column",
            "bank",
            "payments",
            rel(bank[6]),
            "amount",
            None,
            "file_error",
            "has no column 'amount'",
        )
    )

    # Faults the contract accepts, that only the data-quality suites catch: the run is blocked.
    _edit_jsonl(processor[5], 0, {"currency": "chf"})
    injected.append(
        _fault(
            "currency_without_fx_rate",
            "processor",
            "payments",
            rel(processor[5]),
            "currency",
            "CHF",
            "blocked",
            "expect_column_values_to_be_in_set",
        )
    )

    injected += _inject_erp_faults(erp_url)
    return injected


def _inject_erp_faults(erp_url: str) -> list[dict[str, object]]:
    """ERP faults: rows the database accepts but the contract does not."""
    injected: list[dict[str, object]] = []
    engine = sa.create_engine(erp_url)
    metadata = writers.erp_metadata()
    memos = metadata.tables["credit_memos"]
    with engine.begin() as conn:
        memo_id, amount = conn.execute(
            sa.select(memos.c.credit_memo_id, memos.c.credit_amount)
            .order_by(memos.c.credit_memo_date, memos.c.invoice_id, memos.c.reason)
            .limit(1)
        ).one()
        conn.execute(memos.update().where(memos.c.credit_memo_id == memo_id).values(credit_amount=-abs(amount)))
        injected.append(
            _fault(
                "negative_amount",
                "erp",
                "credit_memos",
                "erp.credit_memos",
                "credit_amount",
                f"-{abs(amount):.2f}",
                "quarantine",
                "must be positive",
            )
        )
        app = conn.execute(sa.select(metadata.tables["payment_applications"]).limit(1)).mappings().one()
        conn.execute(
            metadata.tables["payment_applications"].insert(),
            {**app, "application_id": "PA-FAULT-ORPHAN", "invoice_id": "IV-00000000-00000-1"},
        )
        injected.append(
            _fault(
                "orphan_application",
                "erp",
                "payment_applications",
                "erp.payment_applications",
                "invoice_id",
                "IV-00000000-00000-1",
                "quarantine",
                "unknown invoice",
            )
        )
        invoices = metadata.tables["invoices"]
        invoice = conn.execute(
            sa.select(invoices.c.invoice_id, invoices.c.invoice_date).order_by(invoices.c.invoice_id).limit(1)
        ).one()
        conn.execute(
            invoices.update()
            .where(invoices.c.invoice_id == invoice.invoice_id)
            .values(due_date=invoice.invoice_date - dt.timedelta(days=10))
        )
        injected.append(
            _fault(
                "due_date_before_invoice_date",
                "erp",
                "invoices",
                "erp.invoices",
                "due_date",
                str(invoice.invoice_date - dt.timedelta(days=10)),
                "blocked",
                "expect_column_pair_values_a_to_be_greater_than_b",
            )
        )
    engine.dispose()
    return injected
