"""The SQLite adapter of the :class:`GrantStore` port: the ``grants`` table and its indexes.

- ``grants``: primary key ``(project_id, key_id, grant_id)``, so a key's grants are a range read in
  grant-id order (list-grants, the deletion sweep).
- ``grants_by_grantee (grantee_type, grantee, key_id, grant_id)``: the grants one principal holds on
  a key id, whatever the key's project (the grant decision, a foreign grantee's lookup).
- ``grant_retirers``: one row per (retirer name, grant) of :func:`retirers_of`, primary key
  ``(retirer, grant_id)``: list-retirable-grants is a range read per name of the caller
  (``grant_retirers_by_grant``: what a delete removes them by).
- ``grant_counts``: the number of grants of each key, kept by triggers in the writes' transactions.

A create is one ``BEGIN IMMEDIATE`` transaction: read the key's counter, refuse at the limit
(:class:`GrantLimitExceeded`), insert the grant and its retirer rows. The write lock is taken up
front, so two concurrent creates at 99 cannot both pass.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from skms.storage.port import GrantLimitExceeded, GrantPage, GrantRecord, GrantStore, retirers_of
from skms.storage.sqlite.database import Schema, SqliteDatabase, failure

_COLUMNS = (
    "grant_id, key_id, project_id, domain_id, name, grantee_principal, grantee_principal_type,"
    " operations, issuing_principal, retiring_principal, creation_date"
)
_G_COLUMNS = ", ".join(f"g.{column.strip()}" for column in _COLUMNS.split(","))
_SETUP = (
    """
    CREATE TABLE IF NOT EXISTS grants (
        project_id             TEXT    NOT NULL,
        key_id                 TEXT    NOT NULL,
        grant_id               TEXT    NOT NULL,
        domain_id              TEXT    NOT NULL,
        name                   TEXT    NOT NULL,
        grantee_principal      TEXT    NOT NULL,
        grantee_principal_type TEXT    NOT NULL,
        operations             TEXT    NOT NULL,
        issuing_principal      TEXT    NOT NULL,
        retiring_principal     TEXT    NOT NULL,
        creation_date          INTEGER NOT NULL,
        PRIMARY KEY (project_id, key_id, grant_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS grants_by_grantee"
    " ON grants (grantee_principal_type, grantee_principal, key_id, grant_id)",
    """
    CREATE TABLE IF NOT EXISTS grant_retirers (
        retirer    TEXT NOT NULL,
        grant_id   TEXT NOT NULL,
        project_id TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        PRIMARY KEY (retirer, grant_id)
    ) WITHOUT ROWID
    """,
    # What the delete trigger removes a grant's retirer rows by.
    "CREATE INDEX IF NOT EXISTS grant_retirers_by_grant ON grant_retirers (project_id, key_id, grant_id)",
    """
    CREATE TABLE IF NOT EXISTS grant_counts (
        project_id TEXT    NOT NULL,
        key_id     TEXT    NOT NULL,
        count      INTEGER NOT NULL,
        PRIMARY KEY (project_id, key_id)
    ) WITHOUT ROWID
    """,
    "CREATE TRIGGER IF NOT EXISTS grants_count_insert AFTER INSERT ON grants BEGIN"
    " INSERT INTO grant_counts (project_id, key_id, count) SELECT NEW.project_id, NEW.key_id, 0"
    "  WHERE NOT EXISTS (SELECT 1 FROM grant_counts"
    "   WHERE project_id = NEW.project_id AND key_id = NEW.key_id);"
    " UPDATE grant_counts SET count = count + 1 WHERE project_id = NEW.project_id AND key_id = NEW.key_id;"
    " END",
    "CREATE TRIGGER IF NOT EXISTS grants_count_delete AFTER DELETE ON grants BEGIN"
    " UPDATE grant_counts SET count = count - 1 WHERE project_id = OLD.project_id AND key_id = OLD.key_id;"
    " DELETE FROM grant_counts WHERE project_id = OLD.project_id AND key_id = OLD.key_id AND count <= 0;"
    " DELETE FROM grant_retirers WHERE grant_id = OLD.grant_id AND project_id = OLD.project_id"
    "  AND key_id = OLD.key_id;"
    " END",
)

Row = tuple[str, str, str, str, str, str, str, str, str, str, int]


def _grant(row: Row) -> GrantRecord:
    (
        grant_id,
        key_id,
        project_id,
        domain_id,
        name,
        grantee,
        grantee_type,
        operations,
        issuer,
        retiring,
        date,
    ) = row
    return GrantRecord(
        grant_id=grant_id,
        key_id=key_id,
        project_id=project_id,
        domain_id=domain_id,
        name=name,
        grantee_principal=grantee,
        grantee_principal_type=grantee_type,
        operations=tuple(json.loads(operations)),
        issuing_principal=issuer,
        retiring_principal=retiring,
        creation_date=int(date),
    )


def _page(rows: list[Row], limit: int, total: int) -> GrantPage:
    grants = [_grant(row) for row in rows[:limit]]
    return GrantPage(grants, grants[-1].grant_id if len(rows) > limit else None, total)


class _TooMany(Exception):
    pass


class SqliteGrantStore(GrantStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    def create_grant(self, grant: GrantRecord, *, max_per_key: int) -> None:
        try:
            with self._db.write() as conn:
                row = conn.execute(
                    "SELECT count FROM grant_counts WHERE project_id = ? AND key_id = ?",
                    (grant.project_id, grant.key_id),
                ).fetchone()
                if row is not None and row[0] >= max_per_key:
                    raise _TooMany
                conn.execute(
                    f"INSERT INTO grants ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                    (
                        grant.grant_id,
                        grant.key_id,
                        grant.project_id,
                        grant.domain_id,
                        grant.name,
                        grant.grantee_principal,
                        grant.grantee_principal_type,
                        json.dumps(list(grant.operations)),
                        grant.issuing_principal,
                        grant.retiring_principal,
                        grant.creation_date,
                    ),
                )
                conn.executemany(
                    "INSERT INTO grant_retirers (retirer, grant_id, project_id, key_id) VALUES (?, ?, ?, ?)",
                    [(name, grant.grant_id, grant.project_id, grant.key_id) for name in retirers_of(grant)],
                )
        except _TooMany:
            raise GrantLimitExceeded(grant.key_id) from None
        except sqlite3.Error as error:
            raise failure(error) from error

    def get_grant(self, project_id: str, key_id: str, grant_id: str) -> GrantRecord | None:
        row = self._db.read(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM grants WHERE project_id = ? AND key_id = ? AND grant_id = ?",  # noqa: S608
                (project_id, key_id, grant_id),
            ).fetchone()
        )
        return None if row is None else _grant(row)

    def list_key_grants(
        self, project_id: str, key_id: str, limit: int, after: str | None = None
    ) -> GrantPage:
        def work(conn: sqlite3.Connection) -> GrantPage:
            conn.execute("BEGIN")  # one snapshot for the page and the count
            try:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM grants WHERE project_id = ? AND key_id = ? AND grant_id > ?"  # noqa: S608
                    " ORDER BY grant_id LIMIT ?",
                    (project_id, key_id, after or "", limit + 1),
                ).fetchall()
                total = _count(conn, project_id, key_id)
            finally:
                conn.execute("COMMIT")
            return _page(rows, limit, total)

        return self._db.read(work)

    def count_key_grants(self, project_id: str, key_id: str) -> int:
        return self._db.read(lambda conn: _count(conn, project_id, key_id))

    def max_grants_per_key(self, project_id: str) -> int:
        (most,) = self._db.read(
            lambda conn: conn.execute(
                "SELECT MAX(count) FROM grant_counts WHERE project_id = ?", (project_id,)
            ).fetchone()
        )
        return int(most or 0)

    def grants_held(self, grantee_type: str, grantee: str, key_id: str) -> list[GrantRecord]:
        rows = self._db.read(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM grants INDEXED BY grants_by_grantee"  # noqa: S608
                " WHERE grantee_principal_type = ? AND grantee_principal = ? AND key_id = ?"
                " ORDER BY grant_id",
                (grantee_type, grantee, key_id),
            ).fetchall()
        )
        return [_grant(row) for row in rows]

    def _retirable(self, retirers: Sequence[str]) -> tuple[str, list[str]]:
        marks = ", ".join("?" * len(retirers))
        return (
            f"SELECT DISTINCT {_G_COLUMNS} FROM grant_retirers AS r"  # noqa: S608
            " JOIN grants AS g ON g.project_id = r.project_id AND g.key_id = r.key_id"
            f" AND g.grant_id = r.grant_id WHERE r.retirer IN ({marks})",
            list(retirers),
        )

    def retirable_grant(self, retirers: Sequence[str], grant_id: str) -> GrantRecord | None:
        if not retirers:
            return None
        sql, params = self._retirable(retirers)
        row = self._db.read(
            lambda conn: conn.execute(f"{sql} AND r.grant_id = ?", (*params, grant_id)).fetchone()
        )
        return None if row is None else _grant(row)

    def list_retirable(self, retirers: Sequence[str], limit: int, after: str | None = None) -> GrantPage:
        if not retirers:
            return GrantPage([], None, 0)
        sql, params = self._retirable(retirers)

        def work(conn: sqlite3.Connection) -> GrantPage:
            conn.execute("BEGIN")
            try:
                rows = conn.execute(
                    f"{sql} AND r.grant_id > ? ORDER BY g.grant_id LIMIT ?", (*params, after or "", limit + 1)
                ).fetchall()
                (total,) = conn.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()  # noqa: S608
            finally:
                conn.execute("COMMIT")
            return _page(rows, limit, total)

        return self._db.read(work)

    def delete_grant(self, project_id: str, key_id: str, grant_id: str) -> bool:
        try:
            with self._db.write() as conn:
                deleted = conn.execute(
                    "DELETE FROM grants WHERE project_id = ? AND key_id = ? AND grant_id = ?",
                    (project_id, key_id, grant_id),
                ).rowcount
        except sqlite3.Error as error:
            raise failure(error) from error
        return deleted > 0

    def delete_key_grants(self, project_id: str, key_id: str) -> int:
        try:
            with self._db.write() as conn:
                deleted = conn.execute(
                    "DELETE FROM grants WHERE project_id = ? AND key_id = ?", (project_id, key_id)
                ).rowcount
        except sqlite3.Error as error:
            raise failure(error) from error
        return int(deleted)


def _count(conn: sqlite3.Connection, project_id: str, key_id: str) -> int:
    row = conn.execute(
        "SELECT count FROM grant_counts WHERE project_id = ? AND key_id = ?", (project_id, key_id)
    ).fetchone()
    return 0 if row is None else int(row[0])


def _check_invariants(conn: sqlite3.Connection) -> list[str]:
    """Every grant belongs to a key of its own project; the counters and retirer rows agree."""
    problems: list[str] = []
    if (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keys'").fetchone()
        is not None
    ):
        dangling = conn.execute(
            "SELECT DISTINCT g.project_id, g.key_id FROM grants AS g"
            " LEFT JOIN keys AS k ON k.key_id = g.key_id AND k.project_id = g.project_id"
            " WHERE k.key_id IS NULL"
        )
        problems += [
            f"grants {project_id} {key_id}: no key of its project" for project_id, key_id in dangling
        ]
    wrong = conn.execute(
        "SELECT c.project_id, c.key_id FROM grant_counts AS c WHERE c.count !="
        " (SELECT COUNT(*) FROM grants AS g WHERE g.project_id = c.project_id AND g.key_id = c.key_id)"
        " UNION SELECT DISTINCT g.project_id, g.key_id FROM grants AS g WHERE NOT EXISTS"
        " (SELECT 1 FROM grant_counts AS c WHERE c.project_id = g.project_id AND c.key_id = g.key_id)"
    )
    problems += [f"grant_counts {project_id} {key_id}: the count is wrong" for project_id, key_id in wrong]
    orphans = conn.execute(
        "SELECT DISTINCT r.project_id, r.key_id FROM grant_retirers AS r WHERE NOT EXISTS"
        " (SELECT 1 FROM grants AS g WHERE g.project_id = r.project_id AND g.key_id = r.key_id"
        "  AND g.grant_id = r.grant_id)"
    )
    problems += [f"grant_retirers {project_id} {key_id}: a row of no grant" for project_id, key_id in orphans]
    return problems


def _setup(conn: sqlite3.Connection) -> None:
    for statement in _SETUP:
        conn.execute(statement)


SCHEMA = Schema(
    name="grants",
    setup=_setup,
    objects={
        "table": ("grants", "grant_retirers", "grant_counts"),
        "index": ("grants_by_grantee", "grant_retirers_by_grant"),
        "trigger": ("grants_count_insert", "grants_count_delete"),
    },
    check=_check_invariants,
)
