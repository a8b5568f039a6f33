"""The dashboards' user list: who may sign in, with which role (core/access.py).

Kept in the ops store (table `users`, core/ops_store.py), so one list serves both ways of signing
in: a local user has a salted password hash (scrypt from the standard library: memory-hard, no
new dependency) and signs in with the dashboards' form; a user of the company's identity
provider (OpenID Connect) has no password here and is found by the claim the provider vouches
for (their email, by default). Managed with `o2c users add|list|remove`.
"""

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from core import ops_store
from core.access import Viewer

# scrypt's cost (n = 2^14, r = 8: 16 MB and ~50 ms per check, the parameters RFC 7914 and OWASP
# give for interactive logins); stored with each hash, so raising them later keeps old hashes valid.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 12
# A user name: a login or an email address, no spaces or control characters (it is shown on the
# audit page and written beside every action).
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,127}")


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: str
    collector_id: str | None
    has_password: bool
    created_at: dt.datetime
    created_by: str

    def viewer(self) -> Viewer:
        return Viewer(self.username, self.display_name, self.role, self.collector_id)


def normalise(username: str) -> str:
    """User names compare case-insensitively (an email's case is not meaningful to people)."""
    return username.strip().lower()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=64 * 2**20)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), maxmem=64 * 2**20
    )
    return hmac.compare_digest(candidate.hex(), digest)


# Checked against when the user name is unknown, so a wrong name takes as long as a wrong
# password and the timing tells nobody which names exist.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def generate_password() -> str:
    """A random password (about 96 bits) for a user created without one being typed."""
    return secrets.token_urlsafe(16)


def _user(row: sa.RowMapping) -> User:
    return User(
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        collector_id=row["collector_id"],
        has_password=bool(row["password_hash"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def add(
    url: str,
    username: str,
    role: str,
    *,
    created_by: str,
    display_name: str | None = None,
    collector_id: str | None = None,
    password: str | None = None,
) -> User:
    """Add a user (password None: signs in through the identity provider only). Raises ValueError
    naming what is wrong: a bad name, role, collector, a short password, a name already taken."""
    name = normalise(username)
    if not USERNAME.fullmatch(name):
        raise ValueError(
            f"user name {username!r}: use 1-128 letters, digits and . _ @ + - (a login or an email address)"
        )
    shown = (display_name or name).strip()
    if not shown or len(shown) > 200 or any(ord(c) < 32 for c in shown):
        raise ValueError(f"display name {display_name!r}: 1-200 characters, no line breaks or control characters")
    Viewer(name, shown, role, collector_id)  # raises ValueError for a bad role or collector
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password is shorter than {MIN_PASSWORD_LENGTH} characters")
    with ops_store.engine(url).begin() as con:
        if con.execute(sa.select(ops_store.users.c.username).where(ops_store.users.c.username == name)).first():
            raise ValueError(f"user {name!r} exists already (remove it first to change it)")
        con.execute(
            ops_store.users.insert().values(
                username=name,
                display_name=shown,
                role=role,
                collector_id=collector_id,
                password_hash=None if password is None else hash_password(password),
                created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                created_by=created_by,
            )
        )
    found = find(url, name)
    assert found is not None
    return found


def remove(url: str, username: str) -> bool:
    """Remove a user; False when there was none of that name. Their past actions keep their name."""
    with ops_store.engine(url).begin() as con:
        result = con.execute(ops_store.users.delete().where(ops_store.users.c.username == normalise(username)))
    return result.rowcount > 0


def all_users(url: str) -> list[User]:
    with ops_store.engine(url).connect() as con:
        rows = con.execute(sa.select(ops_store.users).order_by(ops_store.users.c.username)).mappings().all()
    return [_user(row) for row in rows]


def find(url: str, username: str) -> User | None:
    query = sa.select(ops_store.users).where(ops_store.users.c.username == normalise(username))
    with ops_store.engine(url).connect() as con:
        row = con.execute(query).mappings().first()
    return None if row is None else _user(row)


def check_password(url: str, username: str, password: str) -> User | None:
    """The user, when the name is known, has a password and it matches; None otherwise (which of
    the three failed is not told: the caller shows one message for all)."""
    query = sa.select(ops_store.users).where(ops_store.users.c.username == normalise(username))
    with ops_store.engine(url).connect() as con:
        row = con.execute(query).mappings().first()
    stored = row["password_hash"] if row is not None and row["password_hash"] else None
    matches = password_matches(password, stored or _DUMMY_HASH)
    return _user(row) if row is not None and stored is not None and matches else None
