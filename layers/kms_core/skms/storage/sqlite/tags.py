"""The SQLite adapter of the :class:`TagStore` port: the ``key_tags`` table.

One row per (key, tag key): primary key ``(project_id, key_id, tag_key)`` (one value per tag key),
so a key's tags are a range read of the primary key. ``key_tags_by_tag (project_id, tag_key,
tag_value, key_id)`` answers the tag filters: the condition fewest keys meet (by the counters below) is
a range read of that index, and each other condition a probe of the primary key
for the candidate, ordered by key id and cut with ``LIMIT``/``OFFSET``. ``key_tag_counts`` holds how
many keys carry each (tag key, value), kept by triggers in the same transactions: the total of a
one-condition filter is a sum of counters and list-kms-tags reads only them. Neither reads the keys
table, nor a key that misses the first condition.

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

_COUNTED = "project_id = {row}.project_id AND tag_key = {row}.tag_key AND tag_value = {row}.tag_value"
# Not INSERT OR IGNORE: a trigger's conflict clause gives way to the outer statement's (the upsert).
_COUNT_UP = (
    "INSERT INTO key_tag_counts (project_id, tag_key, tag_value, count)"  # noqa: S608 - constant names
    " SELECT NEW.project_id, NEW.tag_key, NEW.tag_value, 0"
    f" WHERE NOT EXISTS (SELECT 1 FROM key_tag_counts WHERE {_COUNTED.format(row='NEW')});"
    f" UPDATE key_tag_counts SET count = count + 1 WHERE {_COUNTED.format(row='NEW')};"
)
_COUNT_DOWN = (
    f"UPDATE key_tag_counts SET count = count - 1 WHERE {_COUNTED.format(row='OLD')};"  # noqa: S608
    f" DELETE FROM key_tag_counts WHERE {_COUNTED.format(row='OLD')} AND count <= 0;"
)
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
    # How many keys carry each (tag key, value): kept by the triggers in the writes' transactions.
    """
    CREATE TABLE IF NOT EXISTS key_tag_counts (
        project_id TEXT    NOT NULL,
        tag_key    TEXT    NOT NULL,
        tag_value  TEXT    NOT NULL,
        count      INTEGER NOT NULL,
        PRIMARY KEY (project_id, tag_key, tag_value)
    ) WITHOUT ROWID
    """,
    f"CREATE TRIGGER IF NOT EXISTS key_tags_count_insert AFTER INSERT ON key_tags BEGIN {_COUNT_UP} END",
    f"CREATE TRIGGER IF NOT EXISTS key_tags_count_delete AFTER DELETE ON key_tags BEGIN {_COUNT_DOWN} END",
    "CREATE TRIGGER IF NOT EXISTS key_tags_count_update AFTER UPDATE OF tag_value ON key_tags"
    f" WHEN OLD.tag_value IS NOT NEW.tag_value BEGIN {_COUNT_DOWN} {_COUNT_UP} END",
)

_KEY_TAGS = "SELECT tag_key, tag_value FROM key_tags WHERE project_id = ? AND key_id = ? ORDER BY tag_key"


class _TooMany(Exception):
    pass


def _matching(project_id: str, conditions: Sequence[TagCondition]) -> tuple[str, list[str]]:
    """A SELECT of the matching key ids: a range read of ``key_tags_by_tag`` for the first
    condition, each other condition an EXISTS probe of the primary key ``(project_id, key_id,
    tag_key)`` for the candidate key."""
    if not conditions:
        return "SELECT DISTINCT d.key_id FROM key_tags AS d WHERE d.project_id = ?", [project_id]
    driver, others = conditions[0], conditions[1:]
    sql = (
        "SELECT d.key_id FROM key_tags AS d INDEXED BY key_tags_by_tag"
        " WHERE d.project_id = ? AND d.tag_key = ?"
    )
    params: list[str] = [project_id, driver.key]
    if driver.values:
        sql += f" AND d.tag_value IN ({', '.join('?' * len(driver.values))})"
        params += driver.values
    for condition in others:
        probe = (
            "SELECT 1 FROM key_tags AS o"
            " WHERE o.project_id = d.project_id AND o.key_id = d.key_id AND o.tag_key = ?"
        )
        params.append(condition.key)
        if condition.values:
            probe += f" AND o.tag_value IN ({', '.join('?' * len(condition.values))})"
            params += condition.values
        sql += f" AND EXISTS ({probe})"
    return sql, params


def _carried(conn: sqlite3.Connection, project_id: str, condition: TagCondition) -> int:
    """How many keys meet ``condition``: a sum of its values' counters, however many keys."""
    sql = "SELECT SUM(count) FROM key_tag_counts WHERE project_id = ? AND tag_key = ?"
    if condition.values:
        sql += f" AND tag_value IN ({', '.join('?' * len(condition.values))})"
    (total,) = conn.execute(sql, (project_id, condition.key, *condition.values)).fetchone()
    return int(total or 0)


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
        def work(conn: sqlite3.Connection) -> TagMatches:
            conn.execute("BEGIN")  # one snapshot for the counters, the page and the count
            try:
                ordered = list(conditions)
                if len(ordered) > 1:  # drive with the condition fewest keys meet, as the counters say
                    ordered.sort(key=lambda condition: _carried(conn, project_id, condition))
                matching, params = _matching(project_id, ordered)
                rows = []
                if limit != 0:
                    page_sql = f"{matching} ORDER BY d.key_id LIMIT ? OFFSET ?"
                    rows = conn.execute(page_sql, (*params, limit or -1, offset)).fetchall()
                if len(ordered) == 1:
                    total = _carried(conn, project_id, ordered[0])
                else:
                    (total,) = conn.execute(f"SELECT COUNT(*) FROM ({matching})", params).fetchone()  # noqa: S608
            finally:
                conn.execute("COMMIT")
            return TagMatches(key_ids=[key_id for (key_id,) in rows], total=total)

        return self._db.read(work)

    def project_tags(self, project_id: str) -> dict[str, list[str]]:
        rows = self._db.read(
            lambda conn: conn.execute(
                "SELECT tag_key, tag_value FROM key_tag_counts"
                " WHERE project_id = ? AND count > 0 ORDER BY tag_key, tag_value",
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
    mismatched = conn.execute(
        "SELECT c.project_id, c.tag_key FROM key_tag_counts AS c"
        " WHERE c.count != (SELECT COUNT(*) FROM key_tags AS t"
        "  WHERE t.project_id = c.project_id AND t.tag_key = c.tag_key AND t.tag_value = c.tag_value)"
        " UNION SELECT t.project_id, t.tag_key FROM key_tags AS t"
        " WHERE NOT EXISTS (SELECT 1 FROM key_tag_counts AS c"
        "  WHERE c.project_id = t.project_id AND c.tag_key = t.tag_key AND c.tag_value = t.tag_value)"
    )
    problems += [
        f"key_tag_counts {project_id}: a count of tag key {tag_key!r} is wrong"
        for project_id, tag_key in mismatched
    ]
    return problems


def _setup(conn: sqlite3.Connection) -> None:
    for statement in _SETUP:
        conn.execute(statement)


SCHEMA = Schema(
    name="tags",
    setup=_setup,
    objects={
        "table": ("key_tags", "key_tag_counts"),
        "index": ("key_tags_by_tag",),
        "trigger": ("key_tags_count_insert", "key_tags_count_delete", "key_tags_count_update"),
    },
    check=_check_invariants,
)
