"""The SQLite adapter of the :class:`TagStore` port: the ``key_tags`` table.

One row per (key, tag key): primary key ``(project_id, key_id, tag_key)`` (one value per tag key),
so a key's tags are a range read of the primary key. ``key_tags_by_tag (project_id, tag_key,
tag_value, key_id)`` answers the tag filters: each condition is a range read of that index (one tag
key, optionally ``tag_value IN (...)``), and the conditions are ``INTERSECT``-ed, ordered by key id
and cut with ``LIMIT``/``OFFSET``; the total is a ``COUNT`` over the same compound select. Neither
reads the keys table, nor a key that carries none of the tags asked for.

A change is one ``BEGIN IMMEDIATE`` transaction: delete, upsert, then count the key's tags and
roll back (:class:`TagLimitExceeded`) if there are too many, so concurrent changes cannot together
pass the limit. The table is created by ``CREATE TABLE IF NOT EXISTS`` when the file is opened, so
a file of an earlier version opens fine.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping, Sequence

from skms.storage.port import TagCondition, TagLimitExceeded, TagMatches, TagStore
from skms.storage.sqlite.database import Schema, SqliteDatabase, failure

_SETUP = (
    """
    CREATE TABLE IF NOT EXISTS key_tags (
        project_id TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        tag_key    TEXT NOT NULL,
        tag_value  TEXT NOT NULL,
        PRIMARY KEY (project_id, key_id, tag_key)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS key_tags_by_tag ON key_tags (project_id, tag_key, tag_value, key_id)",
)


_KEY_TAGS = "SELECT tag_key, tag_value FROM key_tags WHERE project_id = ? AND key_id = ? ORDER BY tag_key"


class _TooMany(Exception):
    pass


def _matching(project_id: str, conditions: Sequence[TagCondition]) -> tuple[str, list[str]]:
    """A compound SELECT of the matching key ids (each part a range read of ``key_tags_by_tag``)."""
    if not conditions:
        return "SELECT DISTINCT key_id FROM key_tags WHERE project_id = ?", [project_id]
    parts: list[str] = []
    params: list[str] = []
    for condition in conditions:
        sql = "SELECT key_id FROM key_tags INDEXED BY key_tags_by_tag WHERE project_id = ? AND tag_key = ?"
        params += [project_id, condition.key]
        if condition.values:
            sql += f" AND tag_value IN ({', '.join('?' * len(condition.values))})"
            params += condition.values
        parts.append(sql)
    return " INTERSECT ".join(parts), params


class SqliteTagStore(TagStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    def get_tags(self, project_id: str, key_id: str) -> dict[str, str]:
        rows = self._db.read(
            lambda conn: conn.execute(
                _KEY_TAGS,
                (project_id, key_id),
            ).fetchall()
        )
        return dict(rows)

    def change_tags(
        self,
        project_id: str,
        key_id: str,
        *,
        put: Mapping[str, str],
        remove: Collection[str] = (),
        max_tags: int,
    ) -> dict[str, str]:
        gone = [name for name in remove if name not in put]
        try:
            with self._db.write() as conn:
                conn.executemany(
                    "DELETE FROM key_tags WHERE project_id = ? AND key_id = ? AND tag_key = ?",
                    [(project_id, key_id, name) for name in gone],
                )
                conn.executemany(
                    "INSERT INTO key_tags (project_id, key_id, tag_key, tag_value) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (project_id, key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                    [(project_id, key_id, name, value) for name, value in put.items()],
                )
                rows = conn.execute(
                    _KEY_TAGS,
                    (project_id, key_id),
                ).fetchall()
                if len(rows) > max_tags:
                    raise _TooMany  # rolls the transaction back
        except _TooMany:
            raise TagLimitExceeded(key_id) from None
        except sqlite3.Error as error:
            raise failure(error) from error
        return dict(rows)

    def delete_tags(self, project_id: str, key_id: str) -> None:
        try:
            with self._db.write() as conn:
                conn.execute("DELETE FROM key_tags WHERE project_id = ? AND key_id = ?", (project_id, key_id))
        except sqlite3.Error as error:
            raise failure(error) from error

    def find_keys(
        self,
        project_id: str,
        conditions: Sequence[TagCondition],
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> TagMatches:
        matching, params = _matching(project_id, conditions)
        page_sql = f"{matching} ORDER BY key_id LIMIT ? OFFSET ?"
        count_sql = f"SELECT COUNT(*) FROM ({matching})"  # noqa: S608 - placeholders only

        def work(conn: sqlite3.Connection) -> TagMatches:
            conn.execute("BEGIN")  # one snapshot for the page and the count
            try:
                rows = conn.execute(page_sql, (*params, -1 if limit is None else limit, offset)).fetchall()
                (total,) = conn.execute(count_sql, params).fetchone()
            finally:
                conn.execute("COMMIT")
            return TagMatches(key_ids=[key_id for (key_id,) in rows], total=total)

        return self._db.read(work)

    def project_tags(self, project_id: str) -> dict[str, list[str]]:
        rows = self._db.read(
            lambda conn: conn.execute(
                "SELECT DISTINCT tag_key, tag_value FROM key_tags INDEXED BY key_tags_by_tag"
                " WHERE project_id = ? ORDER BY tag_key, tag_value",
                (project_id,),
            ).fetchall()
        )
        tags: dict[str, list[str]] = {}
        for name, value in rows:
            tags.setdefault(name, []).append(value)
        return tags


def _check_invariants(conn: sqlite3.Connection) -> list[str]:
    """Every tag belongs to a key of its own project, and no tag key is empty."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keys'").fetchone() is None:
        return []  # reported missing by the keys schema
    rows = conn.execute(
        "SELECT t.project_id, t.key_id, t.tag_key = '', k.key_id IS NULL"
        " FROM key_tags AS t LEFT JOIN keys AS k ON k.key_id = t.key_id AND k.project_id = t.project_id"
        " GROUP BY t.project_id, t.key_id"
    )
    problems: list[str] = []
    for project_id, key_id, empty, dangling in rows:
        if empty:
            problems.append(f"key_tags {project_id} {key_id}: an empty tag key")
        if dangling:
            problems.append(f"key_tags {project_id} {key_id}: no key of its project")
    return problems


def _setup(conn: sqlite3.Connection) -> None:
    for statement in _SETUP:
        conn.execute(statement)


SCHEMA = Schema(
    name="tags",
    setup=_setup,
    objects={"table": ("key_tags",), "index": ("key_tags_by_tag",)},
    check=_check_invariants,
)
