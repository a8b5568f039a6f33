"""What was sent, in the ops store: one row per message key, so a rerun sends nothing twice.

Keys name what a message is about, e.g. `collector_report/COL01/2026-06-30` or
`dunning/C000042/IV-…/overdue_7`; a dunning email covering three invoices records three keys.
"""

import datetime as dt
from functools import cache

import sqlalchemy as sa

from core.ops_store import engine as ops_engine

metadata = sa.MetaData()
send_log = sa.Table(
    "alert_send_log",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("recipient", sa.String(300), nullable=False),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("sent_at", sa.DateTime, nullable=False),
)


@cache
def _engine(url: str) -> sa.Engine:
    created = ops_engine(url)
    metadata.create_all(created)
    return created


def already_sent(url: str, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    with _engine(url).connect() as con:
        found = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found |= {r[0] for r in con.execute(sa.select(send_log.c.key).where(send_log.c.key.in_(chunk)))}
        return found


def record(url: str, keys: list[str], kind: str, recipient: str, subject: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with _engine(url).begin() as con:
        for key in keys:
            con.execute(send_log.insert().values(key=key, kind=kind, recipient=recipient, subject=subject, sent_at=now))


def sent(url: str, kind: str | None = None) -> list[dict[str, object]]:
    query = sa.select(send_log).order_by(send_log.c.sent_at, send_log.c.key)
    if kind is not None:
        query = query.where(send_log.c.kind == kind)
    with _engine(url).connect() as con:
        return [dict(r) for r in con.execute(query).mappings()]
