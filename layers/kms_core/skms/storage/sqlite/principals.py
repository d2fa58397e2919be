"""The SQLite adapter of the :class:`PrincipalStore` port, and the ``principals`` table it shares
with :mod:`skms.storage.sqlite.service_state`.

``principals(kind, id, body)`` (primary key ``(kind, id)``, ``body`` the record as JSON with bytes
in base64) holds one row kind per record kind:

- ``access_key``: ``id`` is the access key id;
- ``user``: ``id`` is :func:`skms.storage.codec.user_key` of ``(domain_name, name)`` (base64url of
  each, joined by ``#``: injective, unlike a plain join on a separator a name could contain);
- ``secret`` and ``login-failures``: the service state (see its module).

Creates are a plain INSERT (a primary-key violation is :class:`PrincipalExists`).
"""

from __future__ import annotations

import base64
import json
import sqlite3

from skms.domain import AccessKeyRecord, UserRecord
from skms.storage import codec
from skms.storage.port import PrincipalExists, PrincipalStore
from skms.storage.sqlite.database import Schema, SqliteDatabase, failure, is_unique_violation

ACCESS_KEY = "access_key"
USER = "user"
SECRET = "secret"  # noqa: S105 - a row kind, not a secret value
LOGIN_FAILURES = "login-failures"

_TABLE = """
    CREATE TABLE IF NOT EXISTS principals (
        kind TEXT NOT NULL,
        id   TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    ) WITHOUT ROWID
"""


def row_body(database: SqliteDatabase, kind: str, row_id: str) -> str | None:
    """The body of the ``principals`` row ``(kind, row_id)``, or None."""
    row = database.read(
        lambda conn: conn.execute(
            "SELECT body FROM principals WHERE kind = ? AND id = ?", (kind, row_id)
        ).fetchone()
    )
    return None if row is None else str(row[0])


class SqlitePrincipalStore(PrincipalStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    def _insert(self, kind: str, principal_id: str, body: str, label: str) -> None:
        """INSERT under the write lock; ``label`` names the principal in :class:`PrincipalExists`."""
        try:
            with self._db.write() as conn:
                conn.execute(
                    "INSERT INTO principals (kind, id, body) VALUES (?, ?, ?)", (kind, principal_id, body)
                )
        except sqlite3.IntegrityError as error:
            if is_unique_violation(error):
                raise PrincipalExists(label) from error
            raise failure(error) from error
        except sqlite3.Error as error:
            raise failure(error) from error

    def create_access_key(self, record: AccessKeyRecord) -> None:
        self._insert(ACCESS_KEY, record.access_key, codec.principal_to_json(record), record.access_key)

    def get_access_key(self, access_key: str) -> AccessKeyRecord | None:
        body = row_body(self._db, ACCESS_KEY, access_key)
        return None if body is None else codec.principal_from_json(AccessKeyRecord, body)

    def create_user(self, record: UserRecord) -> None:
        principal_id = codec.user_key(record.domain_name, record.name)
        self._insert(USER, principal_id, codec.principal_to_json(record), record.name)

    def get_user(self, domain_name: str, name: str) -> UserRecord | None:
        body = row_body(self._db, USER, codec.user_key(domain_name, name))
        return None if body is None else codec.principal_from_json(UserRecord, body)


def _setup(conn: sqlite3.Connection) -> None:
    conn.execute(_TABLE)


def _principal_problem(kind: str, principal_id: str, body: str) -> str | None:
    """What is wrong with one principals row (it decodes under its kind, and its id is the body's),
    or None. Raises ValueError, TypeError or KeyError for a body that does not decode."""
    if kind == SECRET:
        base64.b64decode(json.loads(body)["value"], validate=True)
        return None
    if kind == LOGIN_FAILURES:
        counter = json.loads(body)
        if not (isinstance(counter["count"], int) and isinstance(counter["expires_at"], int)):
            raise TypeError("count and expires_at must be integers")
        # 0 is "no failures": the take-back of a successful login left such rows before it learnt
        # to delete them, and they hold nothing wrong. Below 0 would grant extra attempts.
        return None if counter["count"] >= 0 else "a negative failure counter"
    if kind == ACCESS_KEY:
        access_key = codec.principal_from_json(AccessKeyRecord, body)
        expected_id = access_key.access_key
    elif kind == USER:
        user = codec.principal_from_json(UserRecord, body)
        expected_id = codec.user_key(user.domain_name, user.name)
    else:
        return "an unknown kind"
    return None if expected_id == principal_id else "the id differs from the body's"


def _check_principals(conn: sqlite3.Connection) -> list[str]:
    problems: list[str] = []
    for kind, principal_id, body in conn.execute("SELECT kind, id, body FROM principals ORDER BY kind, id"):
        try:
            problem = _principal_problem(kind, principal_id, body)
        except (ValueError, TypeError, KeyError) as error:
            problem = f"the body does not decode ({type(error).__name__})"
        if problem:
            problems.append(f"principals {kind} {principal_id!r}: {problem}")
    return problems


SCHEMA = Schema(name="principals", setup=_setup, objects={"table": ("principals",)}, check=_check_principals)
