"""The send log: what was sent, so that nothing goes twice, even when the ops store is lost.

It lives beside the warehouse (`sendlog.sqlite` next to warehouse.duckdb, backed up with that
folder), not in the ops store and not in the DuckDB files the pipeline rewrites. Keys name what a
message is about, e.g. `collector_report/COL01/2026-06-30` or `dunning/IV-…/overdue_7`; a dunning
email covering three invoices has three keys and one Message-ID.

A message is recorded as `sending` (with its bytes) BEFORE the SMTP transaction and becomes `sent`
when the server accepted it. A message left `sending` (the connection dropped after the content went
out, or the process died) is *unconfirmed*: the server may have delivered it. It is never composed
again; alerts/runner.py decides what happens to it (docs/alerts.md, "Exactly once").

The send log and the ops store know each other's id (table `o2c_identity` in each). A send log that
is gone while the ops store remembers one, an ops store that is gone or was recreated, or a send log
older than the ops store remembers (restored from an older backup) holds all sending (SendingHeld)
until an operator runs `o2c alerts acknowledge`.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
import uuid
from email.utils import parseaddr
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from core.settings import Settings, hide_password

SENDING, SENT, ASSUMED = "sending", "sent", "assumed"  # ASSUMED: baseline after a lost send log

metadata = sa.MetaData()
messages = sa.Table(
    "messages",
    metadata,
    sa.Column("message_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("recipients", sa.String(1000), nullable=False),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempted_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
    sa.Column("note", sa.String(300)),  # how an unconfirmed message was settled, a migration ...
    sa.Column("content", sa.LargeBinary),  # the message's bytes while it is unconfirmed
)
message_keys = sa.Table(
    "message_keys",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),  # a key goes once: the claim
    sa.Column("message_id", sa.String(200), sa.ForeignKey("messages.message_id"), nullable=False),
)
identity = sa.Table(
    "o2c_identity",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.String(100), nullable=False),
)
# What happened to the log itself, for the auditors: made, copied, acknowledged, settled; by whom.
events = sa.Table(
    "events",
    metadata,
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("by", sa.String(100), nullable=False),
    sa.Column("event", sa.String(1000), nullable=False),
)
# The same identity table, in the ops store (its own metadata: the ops store's tables are not ours).
ops_metadata = sa.MetaData()
ops_identity = identity.to_metadata(ops_metadata)


class SendingHeld(RuntimeError):
    """The send log and the ops store do not match: nothing is sent until acknowledged."""


def location(settings: Settings) -> Path:
    """Beside the warehouse, in the folder that is backed up with it."""
    return settings.warehouse.with_name("sendlog.sqlite")


def message_id(keys: list[str], sender: str) -> str:
    """The Message-ID of the logical email with these keys: the same for every attempt, so a mail
    server (and the operator) can tell a retry from a second letter."""
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:32]
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2] if "@" in address else "o2c.local"
    return f"<o2c.{digest}@{domain}>"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@cache
def _engine(path: Path) -> sa.Engine:
    # No pooled connections: a send log deleted and made again (a lost one, a restored backup) is
    # read afresh, never through a connection to the old file. Tables are made with the file (_create).
    return sa.create_engine(f"sqlite:///{path}", poolclass=NullPool)


def _ops(url: str) -> sa.Engine:
    """The ops store, for its identity row only; unpooled for the same reason (a recreated store)."""
    ops_file = _ops_file(url)
    if ops_file is not None:
        ops_file.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, poolclass=NullPool)
    ops_metadata.create_all(engine)
    return engine


def operator() -> str:
    """Who runs this command (the OS user): what the log's events and settlements name."""
    try:
        return getpass.getuser()
    except OSError:  # no user name for this uid (a container)
        return f"uid {os.getuid()}"


def record_event(path: Path, event: str) -> None:
    with _engine(path).begin() as con:
        con.execute(events.insert().values(at=_now(), by=operator(), event=event))


def history(path: Path) -> list[dict[str, object]]:
    """The log's own events, oldest first."""
    if not path.exists():
        return []
    with _engine(path).connect() as con:
        return [dict(r) for r in con.execute(sa.select(events).order_by(events.c.at)).mappings()]


def already_sent(path: Path, keys: list[str]) -> set[str]:
    """The keys the log has, in any state (an unconfirmed key is not composed again)."""
    if not keys or not path.exists():
        return set()
    found: set[str] = set()
    with _engine(path).connect() as con:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found |= {r[0] for r in con.execute(sa.select(message_keys.c.key).where(message_keys.c.key.in_(chunk)))}
    return found


def _insert(con: sa.Connection, mid: str, keys: list[str], **values: object) -> None:
    """One message and the keys it covers, in the caller's transaction (a key already claimed
    raises IntegrityError, and the transaction takes the message back with it)."""
    con.execute(messages.insert().values(message_id=mid, **values))
    con.execute(message_keys.insert(), [{"key": k, "message_id": mid} for k in keys])


def claim(path: Path, mid: str, keys: list[str], kind: str, recipients: str, subject: str, content: bytes) -> bool:
    """Record a message as `sending` before it goes; False when one of its keys is already claimed
    (another run got there first): it must not be sent."""
    try:
        with _engine(path).begin() as con:
            _insert(
                con,
                mid,
                keys,
                kind=kind,
                recipients=recipients,
                subject=subject,
                status=SENDING,
                attempted_at=_now(),
                content=content,
            )
    except sa.exc.IntegrityError:
        return False
    return True


def mark_sent(path: Path, mid: str, note: str | None = None) -> None:
    """The server accepted it (or the operator confirmed it was delivered): the bytes are dropped."""
    with _engine(path).begin() as con:
        values = {"status": SENT, "sent_at": _now(), "content": None}
        if note is not None:
            values["note"] = note
        con.execute(messages.update().where(messages.c.message_id == mid).values(**values))


def release(path: Path, mid: str) -> None:
    """It certainly did not go (refused, or no connection before its content): forget the claim, so
    the next run composes it again."""
    with _engine(path).begin() as con:
        con.execute(message_keys.delete().where(message_keys.c.message_id == mid))
        con.execute(messages.delete().where(messages.c.message_id == mid))


def unconfirmed(path: Path, kind: str | None = None) -> list[dict[str, object]]:
    """Messages left `sending`: the server may or may not have them. Oldest first, with bytes."""
    if not path.exists():
        return []
    query = sa.select(messages).where(messages.c.status == SENDING).order_by(messages.c.attempted_at)
    if kind is not None:
        query = query.where(messages.c.kind == kind)
    with _engine(path).connect() as con:
        return [dict(r) for r in con.execute(query).mappings()]


def sent(path: Path, kind: str | None = None) -> list[dict[str, object]]:
    """One row per key: key, message_id, kind, recipients, subject, status, attempted_at, sent_at."""
    if not path.exists():
        return []
    columns = [message_keys.c.key, *(c for c in messages.c if c.name != "content")]
    query = (
        sa.select(*columns)
        .join(messages, messages.c.message_id == message_keys.c.message_id)
        .order_by(messages.c.attempted_at, message_keys.c.key)
    )
    if kind is not None:
        query = query.where(messages.c.kind == kind)
    with _engine(path).connect() as con:
        return [dict(r) for r in con.execute(query).mappings()]


# ---- Pairing with the ops store ---------------------------------------------------------------


def _ops_file(url: str) -> Path | None:
    """The ops store's file when it is SQLite (None for a server database)."""
    parsed = sa.engine.make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def _read_ids(con: sa.Connection) -> dict[str, str]:
    return {r.name: r.value for r in con.execute(sa.select(identity.c.name, identity.c.value))}


def _ops_ids(url: str) -> dict[str, str]:
    with _ops(url).connect() as con:
        return _read_ids(con)


def _write_ids(con: sa.Connection, values: dict[str, str]) -> None:
    for name, value in values.items():
        con.execute(identity.delete().where(identity.c.name == name))
        con.execute(identity.insert().values(name=name, value=value))


def _key_count(path: Path) -> int:
    with _engine(path).connect() as con:
        return con.execute(sa.select(sa.func.count()).select_from(message_keys)).scalar_one()


def ready(settings: Settings) -> list[str]:
    """Check the send log against the ops store before anything is sent, making the send log on
    first start (copying an older install's log out of the ops store). Returns notes for the run
    summary; raises SendingHeld naming what is wrong and how to settle it."""
    path, url = location(settings), settings.ops()
    ops_file = _ops_file(url)
    ops_shown = str(ops_file) if ops_file else hide_password(url)
    settle = "Nothing was sent. See docs/alerts.md (Exactly once), then run `o2c alerts acknowledge`."
    if not path.exists():
        remembered = {} if ops_file is not None and not ops_file.exists() else _ops_ids(url)
        if "sendlog_id" in remembered:
            raise SendingHeld(
                f"send log {path} is missing, but the ops store {ops_shown} was paired with send log "
                f"{remembered['sendlog_id']}: it was lost, so what was already sent is unknown. Restore it from "
                f"the backup of {path.parent}, or acknowledge to start a new one that counts everything due now "
                f"as sent. {settle}"
            )
        return _create(path, url)
    with _engine(path).connect() as con:
        mine = _read_ids(con)
    if ops_file is not None and not ops_file.exists():
        raise SendingHeld(f"the ops store {ops_shown} is missing (the send log {path} was paired with it). {settle}")
    theirs = _ops_ids(url)
    if theirs.get("store_id") != mine.get("ops_store_id"):
        found = f"store id {theirs['store_id']}" if "store_id" in theirs else "no store id"
        raise SendingHeld(
            f"the ops store {ops_shown} is not the one the send log {path} was paired with (store id "
            f"{mine.get('ops_store_id')}, found {found}): it was lost or recreated, so collectors' promises and "
            f"disputes recorded there may be gone. {settle}"
        )
    if theirs.get("sendlog_id") != mine.get("sendlog_id"):
        raise SendingHeld(
            f"the send log {path} (id {mine.get('sendlog_id')}) is not the one the ops store {ops_shown} knows "
            f"(id {theirs.get('sendlog_id')}): another send log was put in its place. {settle}"
        )
    count, expected = _key_count(path), int(theirs.get("sendlog_keys", "0"))
    if count < expected:
        raise SendingHeld(
            f"the send log {path} has {count} keys, the ops store {ops_shown} remembers {expected}: it was restored "
            f"from an older backup, so what was sent since is unknown. {settle}"
        )
    return []


def remember_count(settings: Settings) -> None:
    """Tell the ops store how many keys the send log holds now (after a run sent something), so a
    send log restored from an older backup is noticed."""
    _remember_count(location(settings), settings.ops())


def _create(path: Path, url: str) -> list[str]:
    """A new send log paired with the ops store; an older install's log (the ops store's
    `alert_send_log`) copied over, so an upgrade does not send anything again. Built under a
    temporary name and renamed into place, so a half-made log never looks like a real one."""
    building = path.with_name(path.name + ".building")
    building.unlink(missing_ok=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    notes = []
    engine = _engine(building)
    metadata.create_all(engine)
    keys, copied = _copy_old_log(url, engine)
    if copied:
        notes.append(
            f"send log: {copied} sent messages ({keys} keys) copied from the ops store's alert_send_log to {path}"
        )
    sendlog_id = uuid.uuid4().hex
    with _ops(url).begin() as con:
        store_id = _read_ids(con).get("store_id") or uuid.uuid4().hex
        _write_ids(con, {"store_id": store_id, "sendlog_id": sendlog_id})
    with engine.begin() as con:
        _write_ids(con, {"sendlog_id": sendlog_id, "ops_store_id": store_id})
        made = f"send log {sendlog_id} made, paired with ops store {store_id}"
        con.execute(events.insert().values(at=_now(), by=operator(), event="; ".join([made, *notes])))
    os.replace(building, path)
    _remember_count(path, url)
    return notes


def _remember_count(path: Path, url: str) -> None:
    with _ops(url).begin() as con:
        _write_ids(con, {"sendlog_keys": str(_key_count(path))})


def _copy_old_log(url: str, target: sa.Engine) -> tuple[int, int]:
    """Rows of the ops store's `alert_send_log` (one per key), grouped back into messages: the keys
    recorded together (same kind, recipient, subject and time) were one email."""
    ops_file = _ops_file(url)
    if ops_file is not None and not ops_file.exists():
        return 0, 0
    source = _ops(url)
    if not sa.inspect(source).has_table("alert_send_log"):
        return 0, 0
    old = sa.Table("alert_send_log", sa.MetaData(), autoload_with=source)
    with source.connect() as con:
        rows = con.execute(sa.select(old)).mappings().all()
    grouped: dict[tuple[object, ...], list[str]] = {}
    for row in rows:
        grouped.setdefault((row["kind"], row["recipient"], row["subject"], row["sent_at"]), []).append(row["key"])
    with target.begin() as con:
        for (kind, recipient, subject, sent_at), keys in grouped.items():
            _insert(
                con,
                message_id(keys, "o2c.local"),
                keys,
                kind=kind,
                recipients=recipient,
                subject=subject,
                status=SENT,
                attempted_at=sent_at,
                sent_at=sent_at,
                note="copied from the ops store's alert_send_log",
            )
    return len(rows), len(grouped)


def acknowledge(settings: Settings, due: dict[str, list[str]]) -> list[str]:
    """Settle a hold. A lost send log: a new one in which every key `due` now (by kind) counts as
    sent (status `assumed`), so nothing that may have gone before goes again. A lost, recreated or
    mismatched ops store: pair the send log with the ops store as it is. Returns what was done."""
    path, url = location(settings), settings.ops()
    if not path.exists():
        notes = _create(path, url)
        now = _now()
        with _engine(path).begin() as con:
            for kind, keys in due.items():
                fresh = sorted(set(keys))
                if not fresh:
                    continue
                _insert(
                    con,
                    f"<assumed.{kind}.{uuid.uuid4().hex}@o2c.local>",
                    fresh,
                    kind=kind,
                    recipients="",
                    subject="",
                    status=ASSUMED,
                    attempted_at=now,
                    note="due when a lost send log was acknowledged: counted as sent, never sent again",
                )
                notes.append(f"{kind}: {len(fresh)} keys due now counted as sent")
        _remember_count(path, url)
        done = [f"new send log {path}", *notes]
        record_event(path, "acknowledged a lost send log: " + "; ".join(done))
        return done
    with _engine(path).connect() as con:
        sendlog_id = _read_ids(con)["sendlog_id"]
    with _ops(url).begin() as con:
        store_id = _read_ids(con).get("store_id") or uuid.uuid4().hex
        _write_ids(con, {"store_id": store_id, "sendlog_id": sendlog_id})
    with _engine(path).begin() as con:
        _write_ids(con, {"ops_store_id": store_id})
    _remember_count(path, url)
    done = f"send log {path} paired with the ops store {_ops_file(url) or hide_password(url)} as it is now"
    record_event(path, f"acknowledged: {done} (store id {store_id})")
    return [done]
