"""The SQLite adapter of the :class:`KeyStore` port: the ``keys`` table and its counters.

``seq`` (``AUTOINCREMENT``: monotonic, never reused) is the creation order. It is global, so it is
never shown: a list cursor names the page's last key (:mod:`skms.storage.cursors`, bound to the
project), whose ``seq`` is looked up in the project (the UNIQUE ``key_id`` index) to resume.
``key_alias`` uniqueness is a UNIQUE index on ``(project_id, key_alias)``.

The record is one JSON document (``record``); the fields listing filters on are copied into real
columns, written by every INSERT and UPDATE with the document: ``key_spec``, ``key_state`` (the
state's value), ``enterprise_project_id`` and ``deleted`` (1 for a tombstone, whose
``deleted_at`` is set). A page is one query, ``WHERE project_id = ? AND deleted = 0 [AND key_spec =
?] [AND key_state = ?] [AND enterprise_project_id = ?] AND seq > ? ORDER BY seq LIMIT ?``, served
by an index ``(project_id, deleted, seq)`` or ``(project_id, deleted, <filter column>, seq)``: a
search then an in-order walk that stops after ``limit + 1`` rows, never a table scan or a sort.
``count_keys`` is a sum over ``key_counts``, kept by triggers. Tombstones keep their row, so their
id and alias stay reserved.

A database created before the listing columns existed is migrated when opened: in the schema
transaction, missing columns are added and filled from each row's JSON document (idempotent:
a database that has them is left alone, and two processes opening it serialise on the write lock).
"""

from __future__ import annotations

import functools
import sqlite3
import threading

from skms.domain import KeyRecord
from skms.errors import ConcurrentUpdate
from skms.storage import codec, cursors
from skms.storage.port import (
    AliasExists,
    KeyExists,
    KeyFilter,
    KeyPage,
    KeyStore,
    QuotaExceeded,
)
from skms.storage.sqlite.database import Schema, SqliteDatabase, failure, is_unique_violation

# The listing columns, copies of record fields (see _list_values), with the declarations that
# ALTER TABLE also uses on an older database (an added NOT NULL column needs a default).
_DELETED = "deleted"
_DUE_AT = "due_at"  # KeyRecord.due_at of a live key (deletion date, or imported material's expiry), else NULL
_ROTATE_AT = "rotate_at"  # KeyRecord.rotation_due_at: next_rotation_time of a key on the rotation schedule
_LIST_COLUMNS = {
    **dict.fromkeys(codec.FILTER_FIELDS, "TEXT NOT NULL DEFAULT ''"),
    _DELETED: "INTEGER NOT NULL DEFAULT 0",
    _DUE_AT: "INTEGER",
    _ROTATE_AT: "INTEGER",
}
_SET_LIST_COLUMNS = ", ".join(f"{name} = ?" for name in _LIST_COLUMNS)
_BACKFILL_BATCH = 500


_KEYS_TABLE = f"""
    CREATE TABLE IF NOT EXISTS keys (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id TEXT    NOT NULL,
        key_id     TEXT    NOT NULL UNIQUE,
        key_alias  TEXT    NOT NULL,
        revision   INTEGER NOT NULL,
        record     TEXT    NOT NULL,
        {", ".join(f"{name} {declaration}" for name, declaration in _LIST_COLUMNS.items())}
    )
    """
# Live-key counts by the list-keys filter dimensions, kept by triggers in the same transaction as
# every write to `keys`, so that list-keys' `total` and user-quotas are a sum over a handful of
# rows, whatever the number of keys (instead of COUNT(*) over an index range).
_COUNT_DIMENSIONS = "project_id, key_spec, key_state, enterprise_project_id"
_COUNT_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS key_counts (
        project_id TEXT NOT NULL, key_spec TEXT NOT NULL, key_state TEXT NOT NULL,
        enterprise_project_id TEXT NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (project_id, key_spec, key_state, enterprise_project_id)
    ) WITHOUT ROWID
    """,
    """
    CREATE TRIGGER IF NOT EXISTS key_counts_insert AFTER INSERT ON keys WHEN NEW.deleted = 0 BEGIN
        INSERT INTO key_counts (project_id, key_spec, key_state, enterprise_project_id, n)
        VALUES (NEW.project_id, NEW.key_spec, NEW.key_state, NEW.enterprise_project_id, 1)
        ON CONFLICT (project_id, key_spec, key_state, enterprise_project_id) DO UPDATE SET n = n + 1;
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS key_counts_update_old AFTER UPDATE ON keys WHEN OLD.deleted = 0 BEGIN
        UPDATE key_counts SET n = n - 1 WHERE project_id = OLD.project_id AND key_spec = OLD.key_spec
            AND key_state = OLD.key_state AND enterprise_project_id = OLD.enterprise_project_id;
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS key_counts_update_new AFTER UPDATE ON keys WHEN NEW.deleted = 0 BEGIN
        INSERT INTO key_counts (project_id, key_spec, key_state, enterprise_project_id, n)
        VALUES (NEW.project_id, NEW.key_spec, NEW.key_state, NEW.enterprise_project_id, 1)
        ON CONFLICT (project_id, key_spec, key_state, enterprise_project_id) DO UPDATE SET n = n + 1;
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS key_counts_delete AFTER DELETE ON keys WHEN OLD.deleted = 0 BEGIN
        UPDATE key_counts SET n = n - 1 WHERE project_id = OLD.project_id AND key_spec = OLD.key_spec
            AND key_state = OLD.key_state AND enterprise_project_id = OLD.enterprise_project_id;
    END
    """,
)

_BACKFILL_COUNTS = (
    f"INSERT INTO key_counts ({_COUNT_DIMENSIONS}, n) SELECT {_COUNT_DIMENSIONS}, COUNT(*)"  # noqa: S608
    f" FROM keys WHERE deleted = 0 GROUP BY {_COUNT_DIMENSIONS}"
)


@functools.lru_cache(maxsize=1024)
def _decode_record(document: str) -> KeyRecord:
    """codec.from_json, remembered by the stored document itself: a key used again and again
    (every data-key request reads its key) is decoded once per version of its row. Records are
    frozen, and a changed row is a different document, so nothing stale can be returned.

    Callers get the cached record itself: it is immutable through and through (frozen, its
    versions a tuple of frozen values), so nothing a caller does can reach the store or the cache."""
    return codec.from_json(document)


_IS_DEFAULT_ALIAS = "substr(key_alias, -8) = '/default'"

# After the migration (they index its columns). Every listing WHERE starts with project_id = ?
# AND deleted = 0, then at most one more equality picks an index, and seq comes in index order.
_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS keys_project_alias ON keys (project_id, key_alias)",
    *_COUNT_SCHEMA,
    "DROP INDEX IF EXISTS keys_project_seq",  # the old listing index, superseded by keys_live_seq
    "CREATE INDEX IF NOT EXISTS keys_live_seq ON keys (project_id, deleted, seq)",
    # Partial index: only keys pending deletion are in it, so the sweep reads just those.
    "CREATE INDEX IF NOT EXISTS keys_due ON keys (due_at) WHERE due_at IS NOT NULL",
    # Partial index: only keys on the automatic rotation schedule, so the rotation reads just those.
    "CREATE INDEX IF NOT EXISTS keys_rotate ON keys (rotate_at) WHERE rotate_at IS NOT NULL",
    # Partial index: only service default keys (aliases <service>/default, which no caller may
    # take) are in it, so user-instances subtracts them without reading the project's keys.
    f"CREATE INDEX IF NOT EXISTS keys_default ON keys (project_id, deleted) WHERE {_IS_DEFAULT_ALIAS}",
    *(
        f"CREATE INDEX IF NOT EXISTS keys_live_{name}_seq ON keys (project_id, deleted, {name}, seq)"
        for name in codec.FILTER_FIELDS
    ),
)

# Built once from the constant column names above (S608: no value is ever formatted into SQL).
_INSERT_KEY = (
    f"INSERT INTO keys (project_id, key_id, key_alias, revision, record, {', '.join(_LIST_COLUMNS)})"  # noqa: S608
    f" VALUES (?, ?, ?, ?, ?, {', '.join('?' for _ in _LIST_COLUMNS)})"
)
_UPDATE_KEY = (
    f"UPDATE keys SET key_alias = ?, revision = ?, record = ?, {_SET_LIST_COLUMNS}"  # noqa: S608
    " WHERE project_id = ? AND key_id = ? AND revision = ?"
)


def _list_values(record: KeyRecord) -> tuple[str | int | None, ...]:
    """The listing columns' values, in _LIST_COLUMNS order."""
    fields = codec.to_fields(record)
    live = codec.is_live(record)
    due = record.due_at if live else None
    return (
        *(str(fields[name]) for name in codec.FILTER_FIELDS),
        0 if live else 1,
        due,
        record.rotation_due_at,
    )


def _where(project_id: str, filters: KeyFilter | None) -> tuple[str, list[str | int]]:
    """The listing WHERE clause (column names are constants, values are parameters)."""
    clauses = ["project_id = ?", f"{_DELETED} = 0"]
    params: list[str | int] = [project_id]
    for name, value in codec.filter_fields(filters).items():
        clauses.append(f"{name} = ?")
        params.append(value)
    return " AND ".join(clauses), params


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the listing columns a database created before them lacks, and fill them from each
    row's document, in batches by seq. Runs in the caller's write transaction."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(keys)")}
    missing = [name for name in _LIST_COLUMNS if name not in present]
    if not missing:
        return
    for name in missing:
        conn.execute(f"ALTER TABLE keys ADD COLUMN {name} {_LIST_COLUMNS[name]}")
    after = -1
    while True:
        rows = conn.execute(
            "SELECT seq, record FROM keys WHERE seq > ? ORDER BY seq LIMIT ?", (after, _BACKFILL_BATCH)
        ).fetchall()
        if not rows:
            return
        conn.executemany(
            f"UPDATE keys SET {_SET_LIST_COLUMNS} WHERE seq = ?",  # noqa: S608 - constant column names
            [(*_list_values(codec.from_json(text)), seq) for seq, text in rows],
        )
        after = rows[-1][0]


def _setup(conn: sqlite3.Connection) -> None:
    had_counts = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'key_counts'"
    ).fetchone()
    conn.execute(_KEYS_TABLE)
    _migrate(conn)
    for statement in _INDEXES:
        conn.execute(statement)
    if had_counts is None:  # a database from before the counts table: count once
        conn.execute(_BACKFILL_COUNTS)


_RECENT_READS = 1024  # records a thread remembers between two writes to the file


class _RecentReads(threading.local):
    """The keys this thread read on its connection, while the file stays as it was then.

    A read of a key (every operation on a key begins with one) is a statement that searches two
    B-trees and returns the document. ``PRAGMA data_version`` is a cheaper statement (still a read
    transaction, but no search and no document: ~5 us less per request in process), and tells
    whether anything was committed to the file since this connection last looked: it changes when
    another connection (thread or process) commits, and ``total_changes`` counts this connection's
    own inserts, updates and deletes. While both are unchanged, no row changed, and the record read
    before is the record committed now: nothing stale (a disabled key is refused at once). Any
    write to the file, to any table, forgets everything. Inside a transaction (where this
    connection may see its own uncommitted writes) nothing is remembered.
    """

    conn: sqlite3.Connection | None = None
    file_state: tuple[int, int] = (-1, -1)
    records: dict[tuple[str, str], KeyRecord]

    def __init__(self) -> None:
        self.records = {}


def _select_key(conn: sqlite3.Connection, project_id: str, key_id: str) -> KeyRecord | None:
    row = conn.execute(
        "SELECT record FROM keys WHERE project_id = ? AND key_id = ?", (project_id, key_id)
    ).fetchone()
    return None if row is None else _decode_record(row[0])


class SqliteKeyStore(KeyStore):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database
        self._reads = _RecentReads()

    def create_key(self, record: KeyRecord, *, quota: int | None = None) -> None:
        try:
            with self._db.write() as conn:
                # Under the write lock, so the checks and the insert are one atomic step.
                if conn.execute("SELECT 1 FROM keys WHERE key_id = ?", (record.key_id,)).fetchone():
                    raise KeyExists(record.key_id)
                if quota is not None:
                    (live,) = conn.execute(
                        "SELECT COALESCE(SUM(n), 0) FROM key_counts WHERE project_id = ?",
                        (record.project_id,),
                    ).fetchone()
                    if live >= quota:
                        raise QuotaExceeded(record.project_id)
                conn.execute(
                    _INSERT_KEY,
                    (
                        record.project_id,
                        record.key_id,
                        record.key_alias,
                        record.revision,
                        codec.to_json(record),
                        *_list_values(record),
                    ),
                )
        except sqlite3.IntegrityError as error:
            if is_unique_violation(error):  # key_id was checked above: the alias is taken
                raise AliasExists(record.key_alias) from error
            raise failure(error) from error
        except sqlite3.Error as error:
            raise failure(error) from error

    def _get_one(self, sql: str, params: tuple[str, ...]) -> KeyRecord | None:
        try:
            row = self._db.connection().execute(sql, params).fetchone()
        except sqlite3.Error as error:
            raise failure(error) from error
        return None if row is None else _decode_record(row[0])

    def get_key(self, project_id: str, key_id: str) -> KeyRecord | None:
        """The key as committed now: this thread's last read of it while nothing was written to
        the file since (see :class:`_RecentReads`), else one indexed read."""
        try:
            conn = self._db.connection()
            if conn.in_transaction:  # it may see this connection's uncommitted writes
                return _select_key(conn, project_id, key_id)
            reads = self._reads
            (data_version,) = conn.execute("PRAGMA data_version").fetchone()
            file_state = (data_version, conn.total_changes)
            if reads.conn is not conn or reads.file_state != file_state:
                reads.conn, reads.file_state, reads.records = conn, file_state, {}
            record = reads.records.get((project_id, key_id))
            if record is None:
                record = _select_key(conn, project_id, key_id)
                if record is not None and len(reads.records) < _RECENT_READS:
                    reads.records[project_id, key_id] = record
        except sqlite3.Error as error:
            raise failure(error) from error
        return record

    def get_key_by_alias(self, project_id: str, alias: str) -> KeyRecord | None:
        return self._get_one(
            "SELECT record FROM keys WHERE project_id = ? AND key_alias = ?", (project_id, alias)
        )

    def update_key(self, record: KeyRecord, expected_revision: int) -> KeyRecord:
        stored = record.replace(revision=expected_revision + 1)
        try:
            with self._db.write() as conn:
                cursor = conn.execute(
                    _UPDATE_KEY,
                    (
                        stored.key_alias,
                        stored.revision,
                        codec.to_json(stored),
                        *_list_values(stored),
                        stored.project_id,
                        stored.key_id,
                        expected_revision,
                    ),
                )
                if cursor.rowcount != 1:
                    raise ConcurrentUpdate()
        except sqlite3.IntegrityError as error:
            if is_unique_violation(error):  # only the alias can collide in an UPDATE
                raise AliasExists(record.key_alias) from error
            raise failure(error) from error
        except sqlite3.Error as error:
            raise failure(error) from error
        return stored

    def list_keys(
        self, project_id: str, limit: int, cursor: str | None = None, *, filters: KeyFilter | None = None
    ) -> KeyPage:
        """One indexed range query; fetches ``limit + 1`` rows to know whether more follow. A
        cursor's key is found in the project first (one lookup of the UNIQUE ``key_id`` index; a
        tombstone keeps its row, so a cursor stays valid after its key was deleted)."""
        if limit < 1:
            raise ValueError("limit must be positive")
        position = None if cursor is None else cursors.key_position(project_id, cursor)
        where, params = _where(project_id, filters)
        try:
            conn = self._db.connection()
            after = -1
            if position is not None:
                found = conn.execute(
                    "SELECT seq FROM keys WHERE key_id = ? AND project_id = ?", (position[1], project_id)
                ).fetchone()
                if found is None:
                    raise ValueError("invalid cursor")  # no such key in this project
                after = int(found[0])
            rows = conn.execute(
                f"SELECT seq, record FROM keys WHERE {where} AND seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                (*params, after, limit + 1),
            ).fetchall()
        except sqlite3.Error as error:
            raise failure(error) from error
        records = [codec.from_json(text) for _, text in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = records[-1]
            next_cursor = cursors.key_cursor(project_id, last.creation_date, last.key_id)
        return KeyPage(records=records, next_cursor=next_cursor)

    def count_keys(self, project_id: str, *, filters: KeyFilter | None = None) -> int:
        """A sum over the trigger-maintained ``key_counts`` rows: constant in the number of keys."""
        clauses, params = ["project_id = ?"], [project_id]
        for name, value in codec.filter_fields(filters).items():
            clauses.append(f"{name} = ?")
            params.append(str(value))
        try:
            row = (
                self._db.connection()
                .execute(f"SELECT COALESCE(SUM(n), 0) FROM key_counts WHERE {' AND '.join(clauses)}", params)  # noqa: S608
                .fetchone()
            )
        except sqlite3.Error as error:
            raise failure(error) from error
        return int(row[0])

    def count_default_keys(self, project_id: str) -> int:
        """A count over the partial index ``keys_default`` (a handful of rows per project)."""
        try:
            row = (
                self._db.connection()
                .execute(
                    f"SELECT COUNT(*) FROM keys WHERE project_id = ? AND deleted = 0 AND {_IS_DEFAULT_ALIAS}",  # noqa: S608
                    (project_id,),
                )
                .fetchone()
            )
        except sqlite3.Error as error:
            raise failure(error) from error
        return int(row[0])

    def due_for_deletion(self, now_ms: int, limit: int) -> list[KeyRecord]:
        """A range read of the partial index ``keys_due``."""
        return self._due("due_at", now_ms, limit)

    def due_for_rotation(self, now_ms: int, limit: int) -> list[KeyRecord]:
        """A range read of the partial index ``keys_rotate``."""
        return self._due("rotate_at", now_ms, limit)

    def _due(self, column: str, now_ms: int, limit: int) -> list[KeyRecord]:
        """Keys whose ``column`` (``due_at`` or ``rotate_at``, each with its partial index) is set
        and at most ``now_ms``, earliest first."""
        if column not in ("due_at", "rotate_at"):  # a fixed name, never caller input, in the SQL
            raise ValueError(column)
        try:
            rows = (
                self._db.connection()
                .execute(
                    f"SELECT record FROM keys WHERE {column} IS NOT NULL AND {column} <= ?"  # noqa: S608
                    f" ORDER BY {column}, seq LIMIT ?",
                    (now_ms, limit),
                )
                .fetchall()
            )
        except sqlite3.Error as error:
            raise failure(error) from error
        return [codec.from_json(text) for (text,) in rows]


# The schema objects the invariants depend on (a missing trigger, say, lets key_counts drift).
_OBJECTS = {
    "table": ("keys", "key_counts"),
    "trigger": ("key_counts_insert", "key_counts_update_old", "key_counts_update_new", "key_counts_delete"),
    "index": (
        "keys_project_alias",
        "keys_live_seq",
        "keys_due",
        "keys_rotate",
        "keys_default",
        *(f"keys_live_{name}_seq" for name in codec.FILTER_FIELDS),
    ),
}
_KEY_COLUMNS = ("seq", "project_id", "key_id", "key_alias", "revision", "record", *_LIST_COLUMNS)
_ALL_KEY_ROWS = f"SELECT {', '.join(_KEY_COLUMNS)} FROM keys ORDER BY seq"  # noqa: S608 - constant names
_COUNT_LIVE_KEYS = (
    f"SELECT {_COUNT_DIMENSIONS}, COUNT(*) FROM keys WHERE deleted = 0"  # noqa: S608 - constant names
    f" GROUP BY {_COUNT_DIMENSIONS}"
)
_STORED_COUNTS = f"SELECT {_COUNT_DIMENSIONS}, n FROM key_counts"  # noqa: S608 - constant names


def _check_invariants(conn: sqlite3.Connection) -> list[str]:
    """Every key row's document decodes and its column copies (project, id, alias, revision,
    listing columns) equal the document's fields; ``seq`` never passes ``sqlite_sequence``;
    ``key_counts`` equals the live keys counted per group."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(keys)")}
    missing = [name for name in _KEY_COLUMNS if name not in columns]
    if missing:
        return [f"schema: keys lacks columns {', '.join(missing)}"]
    return _check_key_rows(conn) + _check_counts(conn)


def _check_key_rows(conn: sqlite3.Connection) -> list[str]:
    problems: list[str] = []
    cursor = conn.execute(_ALL_KEY_ROWS)
    max_seq = 0
    while rows := cursor.fetchmany(_BACKFILL_BATCH):
        for seq, project_id, key_id, alias, revision, text, *listed in rows:
            max_seq = max(max_seq, seq)
            where = f"keys seq {seq} (key {key_id})"
            try:
                record = codec.from_json(text)
            except (ValueError, TypeError, KeyError) as error:  # JSON, base64, enum or field errors
                problems.append(f"{where}: the record does not decode ({type(error).__name__})")
                continue
            copies = {
                "project_id": (project_id, record.project_id),
                "key_id": (key_id, record.key_id),
                "key_alias": (alias, record.key_alias),
                "revision": (revision, record.revision),
                **dict(zip(_LIST_COLUMNS, zip(listed, _list_values(record), strict=True), strict=True)),
            }
            problems += [
                f"{where}: column {name} differs from the record"
                for name, (column, field) in copies.items()
                if column != field
            ]
            if record.revision < 1:
                problems.append(f"{where}: revision {record.revision} < 1")
    sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'keys'").fetchone()
    if max_seq and (sequence is None or sequence[0] < max_seq):
        problems.append(f"sqlite_sequence of keys is behind seq {max_seq}: seq values could be reused")
    return problems


def _check_counts(conn: sqlite3.Connection) -> list[str]:
    actual = {tuple(row[:-1]): row[-1] for row in conn.execute(_COUNT_LIVE_KEYS)}
    stored = {tuple(row[:-1]): row[-1] for row in conn.execute(_STORED_COUNTS)}
    return [
        f"key_counts {'/'.join(group)}: stored {stored.get(group, 0)}, counted {actual.get(group, 0)}"
        for group in sorted(actual.keys() | stored.keys())
        if stored.get(group, 0) != actual.get(group, 0)
    ]


SCHEMA = Schema(name="keys", setup=_setup, objects=_OBJECTS, check=_check_invariants)
