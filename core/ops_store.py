"""The ops store: where collectors' actions and manual cash applications are written (never the
warehouse).

Any SQLAlchemy URL (`O2C_OPS_URL`), SQLite under data/ops/ by default. The tables have the source
contract's `collection_actions` and `manual_cash_applications` columns, so the next pipeline run
ingests them like any source.
"""

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from core.money import MONEY_SCALE, decimal_problem

ACTION_TYPES = ("call", "email", "promise_to_pay", "dispute", "note")
DISPUTE_REASONS = ("pricing", "quantity", "quality", "not_received", "duplicate")
MANUAL_ACTIONS = ("apply", "reverse")

# The digits of an amount the ops store keeps exactly: SQLite (the default) stores a NUMERIC as a
# REAL, whose 15 significant digits round-trip, so a DECIMAL(18,2) amount of 16 whole digits
# would come back changed. 13 whole digits and the cents: tens of trillions, in any currency.
STORED_MONEY_PRECISION = 15

metadata = sa.MetaData()
collection_actions = sa.Table(
    "collection_actions",
    metadata,
    sa.Column("action_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("invoice_id", sa.String(64)),
    sa.Column("collector_id", sa.String(64), nullable=False),
    sa.Column("action_type", sa.String(32), nullable=False),
    sa.Column("action_date", sa.Date, nullable=False),
    sa.Column("promised_date", sa.Date),
    sa.Column("promised_amount", sa.Numeric(18, 2)),
    sa.Column("note", sa.Text),
    sa.Column("dispute_reason", sa.String(32)),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # the signed-in user who recorded it (empty on rows written before sign-in existed)
    sa.Column("entered_by", sa.String(128)),
)
manual_cash_applications = sa.Table(
    "manual_cash_applications",
    metadata,
    sa.Column("manual_application_id", sa.String(64), primary_key=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("payment_id", sa.String(64), nullable=False),
    sa.Column("invoice_id", sa.String(64), nullable=False),
    sa.Column("applied_amount", sa.Numeric(18, 2)),
    sa.Column("action_date", sa.Date, nullable=False),
    sa.Column("entered_by", sa.String(128), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
# The dashboards' local user list (core/users.py), also the role of each identity-provider user.
users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(128), primary_key=True),  # an OIDC user: the email (or subject) claim
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("collector_id", sa.String(64)),
    sa.Column("password_hash", sa.String(300)),  # empty: signs in through the identity provider only
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)
# Every sign-in attempt to the dashboards, kept for the audit page (never deleted by o2c).
sign_ins = sa.Table(
    "sign_ins",
    metadata,
    sa.Column("sign_in_id", sa.String(64), primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("username", sa.String(200), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),  # password or oidc
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Column("detail", sa.String(300)),
)
# Columns added after the first release, with their type: an older SQLite (or other) ops store
# gets them on first open (ALTER TABLE … ADD COLUMN, nullable, so every existing row stays valid).
ADDED_COLUMNS = {"collection_actions": {"entered_by": sa.String(128)}}


def _amount_problem(value: Decimal) -> str | None:
    """Why an amount cannot be saved: the contract's money rule (core/money.py, what the next run
    would quarantine), then the digits the ops store keeps exactly."""
    if problem := decimal_problem(value, "money"):
        return problem
    whole_digits = STORED_MONEY_PRECISION - MONEY_SCALE
    if abs(value) >= Decimal(10) ** whole_digits:
        return f"too large: at most {whole_digits} digits before the decimal point"
    return None


def _text_problems(table: sa.Table, values: dict[str, object], missing: dict[str, str] | None = None) -> list[str]:
    """Text values the next run or the ops store itself would refuse: a required column blank
    (the contract quarantines it: "required value is missing"), longer than its column (PostgreSQL
    refuses it), or holding a NUL character (no PostgreSQL text can). `missing` words the first
    in a page's terms."""
    found = []
    for name, value in values.items():
        column = table.c.get(name)
        if column is None or not isinstance(value, str | None):
            continue
        words = name.replace("_", " ")
        if not column.nullable and not column.primary_key and not (value or "").strip():
            found.append((missing or {}).get(name, f"the {words} is missing"))
        elif value is not None:
            length = getattr(column.type, "length", None)
            if length is not None and len(value) > length:
                found.append(f"the {words} is longer than {length:,} characters")
            if "\x00" in value:
                found.append(f"the {words} holds a NUL character")
    return found


@dataclass(frozen=True)
class Action:
    customer_id: str
    collector_id: str
    action_type: str
    action_date: dt.date
    invoice_id: str | None = None
    promised_date: dt.date | None = None
    promised_amount: Decimal | None = None
    note: str | None = None
    dispute_reason: str | None = None
    entered_by: str | None = None  # the signed-in user (dashboards.auth.viewer().username)

    def problems(self) -> list[str]:
        """What is wrong with the action, in words a collector understands (empty when fine).

        The same rules the next pipeline run applies to the row (the source contract's
        `collection_actions`: required values, amounts as core/money.py has them), so nothing
        "Saved" here is quarantined there; and what the ops store's columns can hold."""
        found = _text_problems(collection_actions, self.__dict__)
        if self.action_type not in ACTION_TYPES:
            found.append(f"unknown action type {self.action_type!r}")
        if self.action_type == "promise_to_pay":
            if self.promised_date is None or self.promised_date < self.action_date:
                found.append("a promise to pay needs a promised date on or after the action date")
            if self.promised_amount is None or self.promised_amount <= 0:
                found.append("a promise to pay needs a positive promised amount")
        if self.promised_amount is not None and (problem := _amount_problem(self.promised_amount)):
            found.append(f"the promised amount {self.promised_amount}: {problem}")
        if self.action_type == "dispute" and self.dispute_reason not in DISPUTE_REASONS:
            found.append(f"a dispute needs a reason: one of {', '.join(DISPUTE_REASONS)}")
        if self.note is not None and len(self.note) > 2000:
            found.append("the note is longer than 2,000 characters")
        return found


@cache
def engine(url: str) -> sa.Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    created = sa.create_engine(url)
    metadata.create_all(created)
    _add_missing_columns(created)
    if url.startswith("sqlite:///"):
        # it holds the dashboards' password hashes and the audit trail: readable by its owner only
        Path(url.removeprefix("sqlite:///")).chmod(0o600)
    return created


def _add_missing_columns(created: sa.Engine) -> None:
    """Give an ops store made by an older version the columns added since (see ADDED_COLUMNS)."""
    inspector = sa.inspect(created)
    for table, columns in ADDED_COLUMNS.items():
        present = {column["name"] for column in inspector.get_columns(table)}
        for name, type_ in columns.items():
            if name not in present:
                kind = type_.compile(dialect=created.dialect)
                with created.begin() as con:
                    con.execute(sa.text(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}'))


def record(url: str, action: Action) -> str:
    """Store the action; returns its id. Raises ValueError naming what is wrong."""
    problems = action.problems()
    if problems:
        raise ValueError("; ".join(problems))
    action_id = f"ACT-{uuid.uuid4().hex[:16]}"
    with engine(url).begin() as con:
        con.execute(
            collection_actions.insert().values(
                action_id=action_id,
                updated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                **action.__dict__,
            )
        )
    return action_id


def actions(url: str, customer_ids: list[str] | None = None) -> pl.DataFrame:
    """The recorded actions (of these customers), newest first."""
    query = sa.select(collection_actions).order_by(
        collection_actions.c.action_date.desc(), collection_actions.c.updated_at.desc()
    )
    if customer_ids is not None:
        query = query.where(collection_actions.c.customer_id.in_(customer_ids))
    schema = {
        "action_id": pl.String,
        "customer_id": pl.String,
        "invoice_id": pl.String,
        "collector_id": pl.String,
        "action_type": pl.String,
        "action_date": pl.Date,
        "promised_date": pl.Date,
        "promised_amount": pl.Float64,
        "note": pl.String,
        "dispute_reason": pl.String,
        "updated_at": pl.Datetime,
        "entered_by": pl.String,
    }
    return _frame(url, query, schema)


@dataclass(frozen=True)
class ManualApplication:
    """Cash applied to an invoice by hand ('apply'), or such an application taken back ('reverse')."""

    action: str
    payment_id: str
    invoice_id: str
    action_date: dt.date
    entered_by: str
    applied_amount: Decimal | None = None
    note: str | None = None

    def problems(self) -> list[str]:
        """What is wrong with it, in words an AR clerk understands (empty when fine): the rules of
        the source contract's `manual_cash_applications`, as for `Action.problems`."""
        found = []
        if self.action not in MANUAL_ACTIONS:
            found.append(f"unknown action {self.action!r}: choose apply or reverse")
        found += _text_problems(
            manual_cash_applications,
            self.__dict__,
            missing={
                "payment_id": "which payment is missing",
                "invoice_id": "which invoice is missing",
                "entered_by": "who is applying is missing: enter your name",
            },
        )
        if self.action == "apply" and (self.applied_amount is None or self.applied_amount <= 0):
            found.append("an application needs an amount above zero")
        if (
            self.action == "apply"
            and self.applied_amount is not None
            and (problem := _amount_problem(self.applied_amount))
        ):
            found.append(f"the amount {self.applied_amount}: {problem}")
        if self.note is not None and len(self.note) > 2000:
            found.append("the note is longer than 2,000 characters")
        return found


def record_manual_application(url: str, application: ManualApplication) -> str:
    """Store a manual application or reversal; returns its id. Raises ValueError naming what is
    wrong. It takes effect in the warehouse on the next pipeline run."""
    problems = application.problems()
    if problems:
        raise ValueError("; ".join(problems))
    manual_application_id = f"MAN-{uuid.uuid4().hex[:16]}"
    values = {
        **application.__dict__,
        "entered_by": application.entered_by.strip(),
        # a reversal takes back whatever was applied: its amount means nothing
        "applied_amount": application.applied_amount if application.action == "apply" else None,
    }
    with engine(url).begin() as con:
        con.execute(
            manual_cash_applications.insert().values(
                manual_application_id=manual_application_id,
                updated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                **values,
            )
        )
    return manual_application_id


def manual_applications(url: str) -> pl.DataFrame:
    """The manual applications and reversals recorded, newest first (not yet built or already)."""
    query = sa.select(manual_cash_applications).order_by(
        manual_cash_applications.c.updated_at.desc(), manual_cash_applications.c.manual_application_id
    )
    schema = {
        "manual_application_id": pl.String,
        "action": pl.String,
        "payment_id": pl.String,
        "invoice_id": pl.String,
        "applied_amount": pl.Float64,
        "action_date": pl.Date,
        "entered_by": pl.String,
        "note": pl.String,
        "updated_at": pl.Datetime,
    }
    return _frame(url, query, schema)


def _frame(url: str, query: sa.Select, schema: dict[str, type[pl.DataType] | pl.DataType]) -> pl.DataFrame:
    """The rows of `query` as a DataFrame of `schema` (every list the ops store returns): an
    amount (NUMERIC, read as a Decimal) in a Float64 column becomes a float."""
    with engine(url).connect() as con:
        rows = con.execute(query).mappings().all()
    floats = [name for name, kind in schema.items() if kind == pl.Float64]
    return pl.DataFrame(
        [{**r, **{name: None if r[name] is None else float(r[name]) for name in floats}} for r in rows], schema=schema
    )


# ---- the audit trail: who signed in, who recorded what -----------------------------------------

SIGN_IN_METHODS = ("password", "oidc")


def record_sign_in(url: str, username: str, method: str, succeeded: bool, detail: str | None = None) -> None:
    """One sign-in attempt (kept for the audit page). `username` is what was typed or the identity
    provider's claim, cut to 200 characters: a failed attempt may carry anything."""
    if method not in SIGN_IN_METHODS:
        raise ValueError(f"unknown sign-in method {method!r} (one of {', '.join(SIGN_IN_METHODS)})")
    with engine(url).begin() as con:
        con.execute(
            sign_ins.insert().values(
                sign_in_id=f"SIG-{uuid.uuid4().hex[:16]}",
                at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                username=username[:200],
                method=method,
                succeeded=succeeded,
                detail=None if detail is None else detail[:300],
            )
        )


def sign_in_events(url: str, username: str | None = None) -> pl.DataFrame:
    """Sign-in attempts (of one user), newest first; `at` in UTC."""
    query = sa.select(sign_ins).order_by(sign_ins.c.at.desc(), sign_ins.c.sign_in_id.desc())
    if username is not None:
        query = query.where(sign_ins.c.username == username)
    schema = {
        "sign_in_id": pl.String,
        "at": pl.Datetime,
        "username": pl.String,
        "method": pl.String,
        "succeeded": pl.Boolean,
        "detail": pl.String,
    }
    return _frame(url, query, schema)


def recorded_actions(url: str, username: str | None = None) -> pl.DataFrame:
    """Every worklist action and manual cash application, with who recorded it (of one user),
    newest first: recorded_at (UTC), entered_by, what, customer_id, payment_id, invoice_id,
    amount, record_id."""
    a, m = collection_actions.c, manual_cash_applications.c
    worklist = sa.select(
        a.updated_at.label("recorded_at"),
        a.entered_by,
        a.action_type.label("what"),
        a.customer_id,
        sa.null().label("payment_id"),
        a.invoice_id,
        a.promised_amount.label("amount"),
        a.action_id.label("record_id"),
    )
    manual = sa.select(
        m.updated_at,
        m.entered_by,
        (sa.literal("cash application: ") + m.action).label("what"),
        sa.null(),
        m.payment_id,
        m.invoice_id,
        m.applied_amount,
        m.manual_application_id,
    )
    if username is not None:
        worklist = worklist.where(a.entered_by == username)
        manual = manual.where(m.entered_by == username)
    both = sa.union_all(worklist, manual).subquery()
    query = sa.select(both).order_by(both.c.recorded_at.desc(), both.c.record_id.desc())
    schema = {
        "recorded_at": pl.Datetime,
        "entered_by": pl.String,
        "what": pl.String,
        "customer_id": pl.String,
        "payment_id": pl.String,
        "invoice_id": pl.String,
        "amount": pl.Decimal(18, 2),
        "record_id": pl.String,
    }
    return _frame(url, query, schema)
