"""What the email tests share: an SMTP server that keeps what it receives (aiosmtpd, real SMTP on
localhost), hand-built serving files, and a small collectors' world of export files (no orders)
that a real `o2c run` builds, with every figure the tests expect worked out by hand below.

The fixtures that start and build these are in tests/conftest.py (`smtp`, `collector_world`)."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import duckdb
from aiosmtpd.controller import Controller


class Inbox:
    """aiosmtpd handler keeping every message it accepted."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server(inbox: Inbox | None = None) -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1 at a free port (inbox.port) for the duration of the block;
    `inbox`: a handler of your own (an Inbox that misbehaves)."""
    inbox = inbox or Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@contextmanager
def serving_file(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A hand-built serving file: the block creates the marts a test needs on the connection;
    the _meta row every published build has is added after it."""
    con = duckdb.connect(str(path))
    try:
        yield con
        con.execute("create table _meta (build_id varchar, check_results varchar)")
        con.execute("insert into _meta values ('test-build', null)")
    finally:
        con.close()


def build_serving(path: Path, sql: str) -> Path:
    """A hand-built serving file from the statements `sql` (see serving_file)."""
    with serving_file(path) as con:
        con.execute(sql)
    return path


# ---- The collectors' world: export files in the contract's form, no orders ------------------
#
# As of 2026-11-30 (the latest invoice). Every amount in EUR, the reporting currency. Customer C4
# has no collector: its items are the group "unassigned".
#
# invoice  customer (collector)  amount    invoiced    due         paid                open   days past due
# I1       C1 (K1)               1,000.00  2026-09-01  2026-10-01  200.00 on 10-15     800    60
# I2       C1 (K1)                 500.00  2026-11-01  2026-12-01  -                   500    -1  (due tomorrow)
# I3       C2 (K1)                 300.00  2026-10-01  2026-10-31  -                   300    30
# I4       C2 (K1)               2,000.00  2026-11-30  2026-12-30  -                 2,000   -30  (new, not due this week)
# I5       C3 (K2)                 400.00  2026-10-30  2026-11-29  -                   400     1  (became past due)
# I6       C3 (K2)                 700.00  2026-08-01  2026-08-31  700.00 on 09-10       0    paid
# I7       C4 (none)               250.00  2026-11-10  2026-11-20  -                   250    10
COLLECTOR_WORLD_AS_OF = dt.date(2026, 11, 30)
COLLECTOR_FILES = {
    "collectors.csv": """collector_id,collector_name,email
K1,Kim Collector,kim@example.com
K2,Lee Collector,lee@example.com
""",
    "customers.csv": """customer_id,customer_name,currency,payment_terms_days,collector_id,billing_email,language
C1,Acme GmbH,EUR,30,K1,ap@acme.example,de
C2,Bolt Ltd,EUR,30,K1,ap@bolt.example,en
C3,Crane SA,EUR,30,K2,ap@crane.example,fr
C4,Delta Oy,EUR,10,,ap@delta.example,en
""",
    "invoices.csv": """invoice_id,invoice_number,customer_id,invoice_date,due_date,currency,invoice_amount
I1,2026-001,C1,2026-09-01,2026-10-01,EUR,1000.00
I2,2026-002,C1,2026-11-01,2026-12-01,EUR,500.00
I3,2026-003,C2,2026-10-01,2026-10-31,EUR,300.00
I4,2026-004,C2,2026-11-30,2026-12-30,EUR,2000.00
I5,2026-005,C3,2026-10-30,2026-11-29,EUR,400.00
I6,2026-006,C3,2026-08-01,2026-08-31,EUR,700.00
I7,2026-007,C4,2026-11-10,2026-11-20,EUR,250.00
""",
    "payments.csv": """payment_id,customer_id,invoice_id,payment_date,amount,currency
P1,C1,I1,2026-10-15,200.00,EUR
P2,C3,I6,2026-09-10,700.00,EUR
""",
}


def write_collector_files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in COLLECTOR_FILES.items():
        (folder / name).write_text(text)
    return folder
