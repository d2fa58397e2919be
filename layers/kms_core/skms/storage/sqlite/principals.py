"""The SQLite adapter of the :class:`PrincipalStore` port, and the ``principals`` table it shares
with :mod:`skms.storage.sqlite.service_state`.

``principals(kind, id, body)`` (primary key ``(kind, id)``, ``body`` the record as JSON with bytes
in base64) holds one row kind per record kind:

- ``access_key``: ``id`` is the access key id;
- ``user``: ``id`` is :func:`skms.storage.codec.user_key` of ``(domain_name, name)`` (base64url of
  each, joined by ``#``: injective, unlike a plain join on a separator a name could contain);
- ``user-id``: ``id`` is :func:`user_id_key` of ``(domain_id, user_id)``, ``body`` the
  ``{"domain_name", "name"}`` of the user row (the index by id; written with the user);
- ``project``: ``id`` is the project id, ``body`` its :class:`ProjectClaim`;
- ``policy``: ``id`` is :func:`skms.storage.codec.user_key` of ``(domain_id, name)``;
- ``secret`` and ``login-failures``: the service state (see its module).

Creates are a plain INSERT (a primary-key violation is :class:`PrincipalExists`); a replace reads
and writes in one ``BEGIN IMMEDIATE`` transaction, so the version check and the write are atomic.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable

from skms.domain import AccessKeyRecord, PolicyRecord, ProjectClaim, UserRecord
from skms.storage import codec
from skms.storage.port import PrincipalExists, PrincipalStore
from skms.storage.sqlite.database import Schema, SqliteDatabase, failure, is_unique_violation

ACCESS_KEY = "access_key"
USER = "user"
SECRET = "secret"  # noqa: S105 - a row kind, not a secret value
LOGIN_FAILURES = "login-failures"
USER_ID = "user-id"
PROJECT = "project"
POLICY = "policy"

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


def _rows(database: SqliteDatabase, kind: str) -> list[str]:
    """The bodies of every ``principals`` row of ``kind``, ordered by id."""
    rows = database.read(
        lambda conn: conn.execute(
            "SELECT body FROM principals WHERE kind = ? ORDER BY id", (kind,)
        ).fetchall()
    )
    return [str(row[0]) for row in rows]


def user_id_key(domain_id: str, user_id: str) -> str:
    """The id of a ``user-id`` row (injective: :func:`codec.user_key`)."""
    return codec.user_key(domain_id, user_id)


def _user_pointer(record: UserRecord) -> str:
    return json.dumps({"domain_name": record.domain_name, "name": record.name}, separators=(",", ":"))


class SqlitePrincipalStore(PrincipalStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    def _insert(self, rows: list[tuple[str, str, str]], label: str) -> None:
        """INSERT the ``(kind, id, body)`` rows in one transaction under the write lock; ``label``
        names the principal in :class:`PrincipalExists` (any row already there)."""
        try:
            with self._db.write() as conn:
                conn.executemany("INSERT INTO principals (kind, id, body) VALUES (?, ?, ?)", rows)
        except sqlite3.IntegrityError as error:
            if is_unique_violation(error):
                raise PrincipalExists(label) from error
            raise failure(error) from error
        except sqlite3.Error as error:
            raise failure(error) from error

    def _replace(self, kind: str, row_id: str, body: str, check: Callable[[str], bool]) -> bool:
        """Replace the body of row (kind, row_id) if ``check(stored body)``, atomically."""
        try:
            with self._db.write() as conn:
                row = conn.execute(
                    "SELECT body FROM principals WHERE kind = ? AND id = ?", (kind, row_id)
                ).fetchone()
                if row is None or not check(str(row[0])):
                    return False
                conn.execute("UPDATE principals SET body = ? WHERE kind = ? AND id = ?", (body, kind, row_id))
                return True
        except sqlite3.Error as error:
            raise failure(error) from error

    def _delete(self, rows: list[tuple[str, str]]) -> bool:
        try:
            with self._db.write() as conn:
                deleted = 0
                for kind, row_id in rows:
                    deleted += conn.execute(
                        "DELETE FROM principals WHERE kind = ? AND id = ?", (kind, row_id)
                    ).rowcount
                return deleted > 0
        except sqlite3.Error as error:
            raise failure(error) from error

    # -- access keys -------------------------------------------------------------------------------

    def create_access_key(self, record: AccessKeyRecord) -> None:
        self._insert([(ACCESS_KEY, record.access_key, codec.principal_to_json(record))], record.access_key)

    def get_access_key(self, access_key: str) -> AccessKeyRecord | None:
        body = row_body(self._db, ACCESS_KEY, access_key)
        return None if body is None else codec.principal_from_json(AccessKeyRecord, body)

    def replace_access_key(self, record: AccessKeyRecord, *, expected_version: int) -> bool:
        def unchanged(body: str) -> bool:
            return codec.principal_from_json(AccessKeyRecord, body).version == expected_version

        return self._replace(ACCESS_KEY, record.access_key, codec.principal_to_json(record), unchanged)

    def delete_access_key(self, access_key: str) -> bool:
        return self._delete([(ACCESS_KEY, access_key)])

    def list_access_keys(self, domain_id: str | None = None) -> list[AccessKeyRecord]:
        records = [codec.principal_from_json(AccessKeyRecord, body) for body in _rows(self._db, ACCESS_KEY)]
        return [r for r in records if domain_id is None or r.domain_id == domain_id]

    # -- users -------------------------------------------------------------------------------------

    def create_user(self, record: UserRecord) -> None:
        rows = [
            (USER, codec.user_key(record.domain_name, record.name), codec.principal_to_json(record)),
            (USER_ID, user_id_key(record.domain_id, record.user_id), _user_pointer(record)),
        ]
        self._insert(rows, record.name)

    def get_user(self, domain_name: str, name: str) -> UserRecord | None:
        body = row_body(self._db, USER, codec.user_key(domain_name, name))
        return None if body is None else codec.principal_from_json(UserRecord, body)

    def get_user_by_id(self, domain_id: str, user_id: str) -> UserRecord | None:
        pointer = row_body(self._db, USER_ID, user_id_key(domain_id, user_id))
        if pointer is None:
            return None
        names = json.loads(pointer)
        user = self.get_user(str(names["domain_name"]), str(names["name"]))
        return user if user is not None and user.user_id == user_id else None

    def replace_user(self, record: UserRecord, *, expected_version: int) -> bool:
        user_row = codec.user_key(record.domain_name, record.name)
        try:
            with self._db.write() as conn:
                row = conn.execute(
                    "SELECT body FROM principals WHERE kind = ? AND id = ?", (USER, user_row)
                ).fetchone()
                stored = None if row is None else codec.principal_from_json(UserRecord, str(row[0]))
                if stored is None or stored.version != expected_version or stored.user_id != record.user_id:
                    return False
                conn.execute(
                    "UPDATE principals SET body = ? WHERE kind = ? AND id = ?",
                    (codec.principal_to_json(record), USER, user_row),
                )
                conn.execute(
                    "INSERT OR IGNORE INTO principals (kind, id, body) VALUES (?, ?, ?)",
                    (USER_ID, user_id_key(record.domain_id, record.user_id), _user_pointer(record)),
                )
                return True
        except sqlite3.Error as error:
            raise failure(error) from error

    def delete_user(self, record: UserRecord) -> bool:
        user_row = codec.user_key(record.domain_name, record.name)
        try:
            with self._db.write() as conn:
                row = conn.execute(
                    "SELECT body FROM principals WHERE kind = ? AND id = ?", (USER, user_row)
                ).fetchone()
                if (
                    row is None
                    or codec.principal_from_json(UserRecord, str(row[0])).user_id != record.user_id
                ):
                    return False
                conn.execute("DELETE FROM principals WHERE kind = ? AND id = ?", (USER, user_row))
                conn.execute(
                    "DELETE FROM principals WHERE kind = ? AND id = ?",
                    (USER_ID, user_id_key(record.domain_id, record.user_id)),
                )
                return True
        except sqlite3.Error as error:
            raise failure(error) from error

    def list_users(self, domain_id: str | None = None) -> list[UserRecord]:
        records = [codec.principal_from_json(UserRecord, body) for body in _rows(self._db, USER)]
        return sorted(
            (r for r in records if domain_id is None or r.domain_id == domain_id),
            key=lambda r: (r.domain_name, r.name),
        )

    # -- projects ----------------------------------------------------------------------------------

    def claim_project(self, claim: ProjectClaim) -> ProjectClaim:
        try:
            with self._db.write() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO principals (kind, id, body) VALUES (?, ?, ?)",
                    (PROJECT, claim.project_id, codec.principal_to_json(claim)),
                )
                row = conn.execute(
                    "SELECT body FROM principals WHERE kind = ? AND id = ?", (PROJECT, claim.project_id)
                ).fetchone()
        except sqlite3.Error as error:
            raise failure(error) from error
        return codec.principal_from_json(ProjectClaim, str(row[0]))

    def get_project(self, project_id: str) -> ProjectClaim | None:
        body = row_body(self._db, PROJECT, project_id)
        return None if body is None else codec.principal_from_json(ProjectClaim, body)

    # -- custom policies ---------------------------------------------------------------------------

    def create_policy(self, record: PolicyRecord) -> None:
        row_id = codec.user_key(record.domain_id, record.name)
        self._insert([(POLICY, row_id, codec.principal_to_json(record))], record.name)

    def get_policy(self, domain_id: str, name: str) -> PolicyRecord | None:
        body = row_body(self._db, POLICY, codec.user_key(domain_id, name))
        return None if body is None else codec.principal_from_json(PolicyRecord, body)

    def list_policies(self, domain_id: str | None = None) -> list[PolicyRecord]:
        records = [codec.principal_from_json(PolicyRecord, body) for body in _rows(self._db, POLICY)]
        return sorted(
            (r for r in records if domain_id is None or r.domain_id == domain_id),
            key=lambda r: (r.domain_id, r.name),
        )


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
    elif kind == USER_ID:
        names = json.loads(body)
        if not (isinstance(names["domain_name"], str) and isinstance(names["name"], str)):
            raise TypeError("domain_name and name must be strings")
        return None
    elif kind == PROJECT:
        expected_id = codec.principal_from_json(ProjectClaim, body).project_id
    elif kind == POLICY:
        policy = codec.principal_from_json(PolicyRecord, body)
        expected_id = codec.user_key(policy.domain_id, policy.name)
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
