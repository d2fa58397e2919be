"""One SQLite file shared by the stores of the local backend: connections, write transactions,
error translation, schema set-up and the integrity check. What each record kind keeps in the file
(tables, indexes, triggers, migrations, invariants) is a :class:`Schema` of its own module.

Safe under many threads of one process and several processes on one file:

- WAL mode (readers never block the writer), ``synchronous=FULL`` (a committed key survives a
  power cut: losing a key's wrapped material loses every ciphertext under it), a busy timeout so
  contending writers wait instead of failing.
- One connection per thread (``sqlite3`` connections must not be shared across threads mid-use).
  Connections of finished threads are closed when the thread's local storage is collected.
- Every write is a ``BEGIN IMMEDIATE`` transaction: it takes the write lock up front, so a
  check-then-write inside it cannot race, and two writers never deadlock upgrading read locks.

Errors are told apart by ``sqlite_errorname``, never by message text.
"""

from __future__ import annotations

import contextlib
import pathlib
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from skms.storage.port import StorageFailure

BUSY_TIMEOUT_MS = 10_000
_UNIQUE_VIOLATIONS = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
T = TypeVar("T")


def failure(error: sqlite3.Error) -> StorageFailure:
    """The one translation of a driver error: a StorageFailure naming the SQLite error code only
    (messages may quote values). Raise it ``from`` the error."""
    name = getattr(error, "sqlite_errorname", None) or type(error).__name__
    return StorageFailure(f"sqlite: {name}")


def is_unique_violation(error: sqlite3.IntegrityError) -> bool:
    return getattr(error, "sqlite_errorname", None) in _UNIQUE_VIOLATIONS


@dataclass(frozen=True)
class Schema:
    """What one record kind keeps in the file.

    ``setup`` creates (or migrates) its objects inside the schema write transaction: idempotent,
    so a file of any earlier version opens fine. ``objects`` names the schema objects its
    invariants depend on (``{"table": (...), "index": (...), "trigger": (...)}``); ``check`` lists
    its invariant violations, called only when every object it needs is ``present``.
    """

    name: str
    setup: Callable[[sqlite3.Connection], None]
    objects: Mapping[str, tuple[str, ...]]
    check: Callable[[sqlite3.Connection], list[str]] = field(default=lambda _conn: [])


class _Connection:
    """Holder kept only in thread-local storage, so the connection dies with its thread."""

    def __init__(self, path: pathlib.Path) -> None:
        # check_same_thread=False only so close() may close it from another thread; each
        # connection is still used by its own thread alone.
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error:
            conn.close()
            raise
        self.conn = conn
        self._finalizer = weakref.finalize(self, conn.close)

    def close(self) -> None:
        self._finalizer()


class SqliteDatabase:
    def __init__(self, path: pathlib.Path, schemas: Sequence[Schema], *, setup_schema: bool = True) -> None:
        """Open (creating, migrating) the file at ``path`` with the objects of ``schemas``.
        ``setup_schema=False`` opens an existing file as it is, changing nothing: for
        :meth:`check_integrity` (``skms check``)."""
        self.path = pathlib.Path(path)
        self._schemas = tuple(schemas)
        self._local = threading.local()
        self._all: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._all_lock = threading.Lock()
        if not setup_schema:
            if not self.path.is_file():
                raise StorageFailure("sqlite: no database file")
            return
        try:
            with self.write() as conn:
                for schema in self._schemas:
                    schema.setup(conn)
        except sqlite3.Error as error:
            raise failure(error) from error

    # -- connections and transactions ------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, also after :meth:`close`)."""
        holder: _Connection | None = getattr(self._local, "holder", None)
        if holder is None:
            holder = _Connection(self.path)
            self._local.holder = holder
            with self._all_lock:
                self._all.add(holder)
        return holder.conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A BEGIN IMMEDIATE transaction: commit on success, roll back on any exception."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (e.g. SQLITE_FULL); never mask the cause.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on this thread's connection (autocommit reads), driver errors translated."""
        try:
            return work(self.connection())
        except sqlite3.Error as error:
            raise failure(error) from error

    def close(self) -> None:
        with self._all_lock:
            holders = list(self._all)
            self._all.clear()
        for holder in holders:
            holder.close()
        self._local = threading.local()

    # -- integrity -------------------------------------------------------------------------

    def integrity_check(self) -> bool:
        """True if :meth:`check_integrity` finds no problem."""
        return not self.check_integrity()

    def check_integrity(self) -> list[str]:
        """Every problem found in the file, as short lines naming rows by id (never a value); [] if sound.

        In one read transaction (a consistent snapshot, even while a server writes): SQLite's own
        ``PRAGMA integrity_check`` and ``foreign_key_check``, then for each schema, its objects'
        presence and (when they are all there) its invariants.
        """
        try:
            # Inside the try: a file whose schema pages are torn fails as soon as it is opened.
            conn = self.connection()
            conn.execute("BEGIN")
            try:
                problems = [
                    f"integrity_check: {message}"
                    for (message,) in conn.execute("PRAGMA integrity_check")
                    if message != "ok"
                ]
                problems += [
                    f"foreign_key_check: {table} rowid {rowid} -> {parent}"
                    for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check")
                ]
                if not problems:  # the invariants are only worth reading from a sound file
                    problems += self._check_schemas(conn)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as error:
            raise failure(error) from error
        return problems

    def _check_schemas(self, conn: sqlite3.Connection) -> list[str]:
        present = set(conn.execute("SELECT type, name FROM sqlite_master"))
        problems: list[str] = []
        for schema in self._schemas:
            missing = [
                f"schema: {kind} {name} is missing"
                for kind, names in schema.objects.items()
                for name in names
                if (kind, name) not in present
            ]
            problems += missing
            tables_present = all(("table", name) in present for name in schema.objects.get("table", ()))
            if tables_present:
                problems += schema.check(conn)
        return problems
