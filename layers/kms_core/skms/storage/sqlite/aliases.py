"""The SQLite adapter of the :class:`AliasStore` port: the ``aliases`` table.

One row per alias, plain columns (no secret, nothing to encode): primary key ``(domain_id, alias)``
(the uniqueness of an alias in its domain: a create is a plain INSERT, a primary-key violation is
:class:`AliasExists`). Listings are range reads of ``aliases_key (project_id, key_id, alias)`` and
``aliases_project (project_id, alias)`` from the cursor (the last alias of the previous page, bound
to the listing: :mod:`skms.storage.cursors`): ``ORDER BY alias LIMIT n + 1`` in index order, never a
scan or a sort. Delete and move are a DELETE / UPDATE ``WHERE`` the alias still points at the
expected key, in a ``BEGIN IMMEDIATE`` transaction that then tells "absent" from "points elsewhere".

The table is created by ``CREATE TABLE IF NOT EXISTS`` when the file is opened, so a file of an
earlier version (without it) opens fine.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from skms.domain import AliasRecord
from skms.errors import ConcurrentUpdate
from skms.storage import cursors
from skms.storage.port import AliasExists, AliasNotFound, AliasPage, AliasStore
from skms.storage.sqlite.database import Schema, SqliteDatabase, failure, is_unique_violation

_COLUMNS = ("domain_id", "alias", "key_id", "project_id", "create_time", "update_time")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM aliases"  # noqa: S608 - constant names
_SETUP = (
    """
    CREATE TABLE IF NOT EXISTS aliases (
        domain_id   TEXT    NOT NULL,
        alias       TEXT    NOT NULL,
        key_id      TEXT    NOT NULL,
        project_id  TEXT    NOT NULL,
        create_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL,
        PRIMARY KEY (domain_id, alias)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS aliases_key ON aliases (project_id, key_id, alias)",
    "CREATE INDEX IF NOT EXISTS aliases_project ON aliases (project_id, alias)",
)


def _record(row: tuple[Any, ...]) -> AliasRecord:
    return AliasRecord(**dict(zip(_COLUMNS, row, strict=True)))


class SqliteAliasStore(AliasStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    def create_alias(self, record: AliasRecord) -> None:
        try:
            with self._db.write() as conn:
                conn.execute(
                    f"INSERT INTO aliases ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                    tuple(getattr(record, name) for name in _COLUMNS),
                )
        except sqlite3.IntegrityError as error:
            if is_unique_violation(error):
                raise AliasExists(record.alias) from error
            raise failure(error) from error
        except sqlite3.Error as error:
            raise failure(error) from error

    def get_alias(self, domain_id: str, alias: str) -> AliasRecord | None:
        row = self._db.read(
            lambda conn: conn.execute(
                f"{_SELECT} WHERE domain_id = ? AND alias = ?", (domain_id, alias)
            ).fetchone()
        )
        return None if row is None else _record(row)

    def _page(
        self, scope: tuple[str, ...], where: str, params: tuple[str, ...], limit: int, cursor: str | None
    ) -> AliasPage:
        if limit < 1:
            raise ValueError("limit must be positive")
        clauses, values = [where], list(params)
        if cursor is not None:
            clauses.append("alias > ?")
            values.append(cursors.alias_position(scope, cursor)[1])
        sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY alias LIMIT ?"
        rows = self._db.read(lambda conn: conn.execute(sql, (*values, limit + 1)).fetchall())
        records = [_record(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = cursors.alias_cursor(scope, records[-1].domain_id, records[-1].alias)
        return AliasPage(records=records, next_cursor=next_cursor)

    def list_key_aliases(
        self, project_id: str, key_id: str, limit: int, cursor: str | None = None
    ) -> AliasPage:
        scope = cursors.key_aliases_scope(project_id, key_id)
        return self._page(scope, "project_id = ? AND key_id = ?", (project_id, key_id), limit, cursor)

    def list_project_aliases(self, project_id: str, limit: int, cursor: str | None = None) -> AliasPage:
        scope = cursors.project_aliases_scope(project_id)
        return self._page(scope, "project_id = ?", (project_id,), limit, cursor)

    def delete_alias(self, domain_id: str, alias: str, *, key_id: str) -> AliasRecord:
        try:
            with self._db.write() as conn:
                row = conn.execute(
                    f"{_SELECT} WHERE domain_id = ? AND alias = ? AND key_id = ?", (domain_id, alias, key_id)
                ).fetchone()
                if row is None:
                    raise AliasNotFound(alias)
                conn.execute("DELETE FROM aliases WHERE domain_id = ? AND alias = ?", (domain_id, alias))
        except sqlite3.Error as error:
            raise failure(error) from error
        return _record(row)

    def move_alias(self, current: AliasRecord, *, to_key_id: str, update_time: int) -> AliasRecord:
        name = (current.domain_id, current.alias)
        try:
            with self._db.write() as conn:
                moved = conn.execute(
                    "UPDATE aliases SET key_id = ?, update_time = ?"
                    " WHERE domain_id = ? AND alias = ? AND key_id = ? AND project_id = ?",
                    (to_key_id, update_time, *name, current.key_id, current.project_id),
                )
                row = conn.execute(f"{_SELECT} WHERE domain_id = ? AND alias = ?", name).fetchone()
        except sqlite3.Error as error:
            raise failure(error) from error
        if row is None:
            raise AliasNotFound(current.alias)
        if moved.rowcount != 1:
            raise ConcurrentUpdate()
        return _record(row)


def _check_invariants(conn: sqlite3.Connection) -> list[str]:
    """Every alias is non-empty, was not updated before it was created, and points at a key of its
    own project (key rows are never removed, only tombstoned)."""
    problems: list[str] = []
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keys'").fetchone() is None:
        return problems  # reported missing by the keys schema
    rows = conn.execute(
        "SELECT a.domain_id, a.alias, a.key_id, a.create_time, a.update_time, k.project_id IS NULL"
        " FROM aliases AS a LEFT JOIN keys AS k ON k.key_id = a.key_id AND k.project_id = a.project_id"
        " ORDER BY a.domain_id, a.alias"
    )
    for domain_id, alias, key_id, create_time, update_time, dangling in rows:
        where = f"aliases {domain_id} {alias!r}"
        if not alias:
            problems.append(f"{where}: an empty alias")
        if update_time < create_time:
            problems.append(f"{where}: updated before it was created")
        if dangling:
            problems.append(f"{where}: its key {key_id} is no key of its project")
    return problems


def _setup(conn: sqlite3.Connection) -> None:
    for statement in _SETUP:
        conn.execute(statement)


SCHEMA = Schema(
    name="aliases",
    setup=_setup,
    objects={"table": ("aliases",), "index": ("aliases_key", "aliases_project")},
    check=_check_invariants,
)
