"""The SQLite adapter of the :class:`ServiceStateStore` port: rows of the ``principals`` table
(see :mod:`skms.storage.sqlite.principals`) of two more kinds:

- ``secret``: ``id`` is the secret's name, ``body`` is ``{"value": base64}``;
  ``get_or_create_secret`` is ``INSERT OR IGNORE`` then SELECT in one ``BEGIN IMMEDIATE`` transaction;
- ``login-failures``: ``id`` is the user key then ``#{window}``, ``body`` is
  ``{"count": n, "expires_at": epoch seconds}``; counters whose time is over are deleted by the
  next write. A stored count is at least 1: a take-back (``delta`` < 0, after a successful login)
  updates an existing counter only and deletes it when it reaches 0, in the same transaction. A
  crash between a login's count and its take-back leaves that attempt counted (1 or more): the
  conservative side, and a sound store for ``skms check``.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time

from skms.storage import codec
from skms.storage.port import ServiceStateStore
from skms.storage.sqlite.database import SqliteDatabase, failure
from skms.storage.sqlite.principals import LOGIN_FAILURES, SECRET, row_body


class SqliteServiceStateStore(ServiceStateStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    def login_failures(self, domain_name: str, name: str, window: int) -> int:
        body = row_body(self._db, LOGIN_FAILURES, f"{codec.user_key(domain_name, name)}#{window}")
        return 0 if body is None else int(json.loads(body)["count"])

    def add_login_failure(
        self, domain_name: str, name: str, window: int, expires_at: int, delta: int = 1
    ) -> int:
        counter_id = f"{codec.user_key(domain_name, name)}#{window}"
        try:
            with self._db.write() as conn:
                # Forget counters whose time is over, so names tried once do not pile up.
                conn.execute(
                    "DELETE FROM principals WHERE kind = ? AND json_extract(body, '$.expires_at') < ?",
                    (LOGIN_FAILURES, int(time.time())),
                )
                if delta > 0:
                    conn.execute(
                        "INSERT INTO principals (kind, id, body) VALUES (?, ?, json_object('count', ?,"
                        " 'expires_at', ?)) ON CONFLICT (kind, id) DO UPDATE SET"
                        " body = json_set(body, '$.count', json_extract(body, '$.count') + ?)",
                        (LOGIN_FAILURES, counter_id, delta, expires_at, delta),
                    )
                else:  # a take-back: of an existing counter only, and to 0 at most, which removes it
                    conn.execute(
                        "UPDATE principals SET body = json_set(body, '$.count',"
                        " max(json_extract(body, '$.count') + ?, 0)) WHERE kind = ? AND id = ?",
                        (delta, LOGIN_FAILURES, counter_id),
                    )
                    conn.execute(
                        "DELETE FROM principals WHERE kind = ? AND id = ?"
                        " AND json_extract(body, '$.count') < 1",
                        (LOGIN_FAILURES, counter_id),
                    )
                row = conn.execute(
                    "SELECT json_extract(body, '$.count') FROM principals WHERE kind = ? AND id = ?",
                    (LOGIN_FAILURES, counter_id),
                ).fetchone()
        except sqlite3.Error as error:
            raise failure(error) from error
        return 0 if row is None else int(row[0])

    def get_secret(self, name: str) -> bytes | None:
        body = row_body(self._db, SECRET, name)
        return None if body is None else base64.b64decode(json.loads(body)["value"], validate=True)

    def get_or_create_secret(self, name: str, wrapped: bytes) -> bytes:
        body = json.dumps({"value": base64.b64encode(wrapped).decode("ascii")}, separators=(",", ":"))
        try:
            with self._db.write() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO principals (kind, id, body) VALUES (?, ?, ?)",
                    (SECRET, name, body),
                )
                row = conn.execute(
                    "SELECT body FROM principals WHERE kind = ? AND id = ?", (SECRET, name)
                ).fetchone()
        except sqlite3.Error as error:
            raise failure(error) from error
        return base64.b64decode(json.loads(row[0])["value"], validate=True)
