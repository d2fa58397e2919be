"""Persistence of idempotency records (see :mod:`skms.idempotency`): Powertools' DynamoDB layer
on the keys table (TTL attribute ``expiration``), or the same contract on SQLite for `skms serve`.

On DynamoDB the records are spread over :data:`PARTITIONS` partitions ``IDEMPOTENCY#<2 hex
digits>``, chosen by a hash of the record's key: one partition for all of them was a hot key
under load. Records written before (partition ``IDEMPOTENCY``) are no longer read; they expire
through TTL within the hour (a sequence retried across the upgrade runs once more).

On SQLite the replay records with answers are read and written through :class:`ReplayAnswers` (one
SELECT, one commit; claims in process memory), and the replay markers of ``KMS_REPLAY_PROTECTION=all``
(operations refused without an answer) are :class:`ReplayMarkers`: in process memory, written behind
by a flusher thread."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import hashlib
import itertools
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from skms.config import Settings
from skms.observability import logger

PARTITION_PREFIX = "IDEMPOTENCY#"
PARTITIONS = 256  # two hex digits of a SHA-256


def partition_of(idempotency_key: str) -> str:
    """The partition a record lives in: ``IDEMPOTENCY#`` + the first two hex digits of the SHA-256
    of its key (keys differ in a hash already; hashing again spreads any key evenly)."""
    return PARTITION_PREFIX + hashlib.sha256(idempotency_key.encode()).hexdigest()[:2]


# Switching a database to WAL takes an exclusive lock that SQLite's busy handler does not always wait
# for: two first requests racing to set it up saw "database is locked". WAL mode is a property of the
# file, so it is set once, by one thread of the process, when the store is opened.
_SETUP = threading.Lock()


# Expired records are deleted from the file in batches (by their expiry index), so that the table
# holds about one window of records instead of growing for as long as the server runs.
PRUNE_SECONDS = 60.0
PRUNE_BATCH = 5000
_PRUNE = (
    "DELETE FROM idempotency WHERE rowid IN"
    " (SELECT rowid FROM idempotency WHERE expiration < ? ORDER BY expiration LIMIT ?)"
)


class _FileConnections:
    """Each thread's one connection to an idempotency file, shared by every store of that file, and
    the process's other state of the file: the claims of the replays it is running
    (:class:`ReplayAnswers`) and when to prune next.

    A handler builds a store per operation and kind (``sequence``: FULL; replays: NORMAL), so
    connections of their own would make dozens per thread in `skms serve`, each with a page cache
    that every other one's commit invalidates. Shared, each statement still commits with its own
    store's durability: the connection is set to that store's ``synchronous`` before it is handed
    out (a PRAGMA only when the level changes; autocommit, so never within a transaction)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self.claims = Claims()  # one `skms serve` per data directory: README, Replayed requests
        self._pruning = threading.Lock()
        self._next_prune = 0.0  # time.monotonic() of the next pruning

    def prune_if_due(self, conn: sqlite3.Connection) -> int:
        """Delete up to :data:`PRUNE_BATCH` expired records (Powertools reads an expired record as
        absent, so nothing changes but the file's size), at most once per :data:`PRUNE_SECONDS`,
        or a second after a full batch until the backlog is gone. Returns how many went. Called
        after a request's write, by one thread at a time; the others do not wait for it."""
        now = time.monotonic()
        if now < self._next_prune or not self._pruning.acquire(blocking=False):
            return 0
        deleted = 0
        try:
            deleted = conn.execute(_PRUNE, (int(time.time()), PRUNE_BATCH)).rowcount
        except sqlite3.Error as exc:  # busy or read-only: the records are only kept longer
            logger.warning("idempotency records not pruned", extra={"error": type(exc).__name__})
        finally:
            self._next_prune = now + (1.0 if deleted >= PRUNE_BATCH else PRUNE_SECONDS)
            self._pruning.release()
        return deleted

    def get(self, synchronous: str) -> sqlite3.Connection:
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(self._path, timeout=10, isolation_level=None)
            local.synchronous = None
        if local.synchronous != synchronous:
            conn.execute(f"PRAGMA synchronous={synchronous}")
            local.synchronous = synchronous
        return conn


# Held while a store of the file lives: the connections close with the last one (tests make many).
_FILES: weakref.WeakValueDictionary[Path, _FileConnections] = weakref.WeakValueDictionary()
_FILES_LOCK = threading.Lock()


def _connections_to(path: Path) -> _FileConnections:
    path = path.resolve()
    with _FILES_LOCK:
        connections = _FILES.get(path)
        if connections is None:
            connections = _FILES[path] = _FileConnections(path)
        return connections


class SqliteIdempotencyStore(BasePersistenceLayer):
    """Powertools' persistence contract on SQLite, with the DynamoDB layer's put conditions.
    ``synchronous``: the durability of this store's commits (see :func:`build_persistence`)."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._path = path
        self._synchronous = synchronous
        self._connections = _connections_to(path)
        with _SETUP, self._conn() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS idempotency (id TEXT PRIMARY KEY, expiration INTEGER NOT NULL,"
                " in_progress_expiration INTEGER, status TEXT NOT NULL, data TEXT, validation TEXT)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS idempotency_by_expiration ON idempotency (expiration)")

    def _conn(self) -> sqlite3.Connection:
        """The calling thread's connection to the file, committing with this store's durability."""
        return self._connections.get(self._synchronous)

    @staticmethod
    def _record(row: tuple[Any, ...]) -> DataRecord:
        key, expiration, in_progress, status, data, validation = row
        return DataRecord(
            idempotency_key=key,
            status=status,
            expiry_timestamp=expiration,
            in_progress_expiry_timestamp=in_progress,
            response_data=data,
            payload_hash=validation,
        )

    def _get_record(self, idempotency_key: str) -> DataRecord:
        row = self._conn().execute("SELECT * FROM idempotency WHERE id = ?", (idempotency_key,)).fetchone()
        if row is None:
            raise IdempotencyItemNotFoundError
        return self._record(row)

    # One statement, one transaction: insert, or take over a record that expired or whose
    # in-progress lock lapsed (the DynamoDB layer's put condition); else change nothing.
    _PUT = (
        "INSERT INTO idempotency VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT(id) DO UPDATE SET"
        " expiration = excluded.expiration, in_progress_expiration = excluded.in_progress_expiration,"
        " status = excluded.status, data = NULL, validation = excluded.validation"
        " WHERE idempotency.expiration < ?"
        " OR (idempotency.status = 'INPROGRESS' AND idempotency.in_progress_expiration < ?)"
    )

    def _put_record(self, data_record: DataRecord) -> None:
        now = dt.datetime.now().timestamp()
        written = (
            self._conn()
            .execute(
                self._PUT,
                (
                    data_record.idempotency_key,
                    data_record.expiry_timestamp,
                    data_record.in_progress_expiry_timestamp,
                    data_record.status,
                    data_record.payload_hash if self.payload_validation_enabled else None,
                    int(now),
                    int(now * 1000),
                ),
            )
            .rowcount
        )
        if written == 1:
            return
        try:
            old = self._get_record(data_record.idempotency_key)
        except IdempotencyItemNotFoundError:  # deleted since: Powertools reads it again
            raise IdempotencyItemAlreadyExistsError from None
        self._validate_payload(data_payload=data_record, stored_data_record=old)
        raise IdempotencyItemAlreadyExistsError(old_data_record=old)

    def _update_record(self, data_record: DataRecord) -> None:
        conn = self._conn()
        conn.execute(
            "UPDATE idempotency SET data = ?, status = ?, expiration = ? WHERE id = ?",
            (
                data_record.response_data,
                data_record.status,
                data_record.expiry_timestamp,
                data_record.idempotency_key,
            ),
        )
        self._connections.prune_if_due(conn)

    def _delete_record(self, data_record: DataRecord) -> None:
        self._conn().execute("DELETE FROM idempotency WHERE id = ?", (data_record.idempotency_key,))

    def replay_markers(self) -> ReplayMarkers:
        """The markers of replays refused without an answer, for this file (:class:`ReplayMarkers`)."""
        return replay_markers_at(self._path)

    def replay_answers(self) -> ReplayAnswers:
        """The answered replays' records in this file, with the process's claims on them
        (:class:`ReplayAnswers`)."""
        return ReplayAnswers(self._conn, self._connections)


# -- replay records with answers on SQLite ---------------------------------------------------------


class StoredRecord(NamedTuple):
    """A row of the ``idempotency`` table, as the replay guard reads it."""

    status: str  # COMPLETED, or INPROGRESS (written by a version before this one)
    expiration: int  # epoch seconds
    in_progress_expiration: int | None  # epoch milliseconds (INPROGRESS records)
    data: str | None  # the answer's JSON


class Claims:
    """The keys of the requests this process is running (one set per SQLite file): the in-progress
    lock of Powertools' record, without its commit. Atomic across the process's threads; a crash
    forgets them, which is right: the requests they named are not running any more."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[str] = set()

    def claim(self, key: str) -> bool:
        """Claim ``key``: False if a thread of this process holds it already."""
        with self._lock:
            if key in self._keys:
                return False
            self._keys.add(key)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._keys.discard(key)


class ReplayAnswers:
    """What :class:`skms.idempotency.ReplayGuard` needs on SQLite to answer replays: claims in
    process memory and the records of the ``idempotency`` table, read with one SELECT and written
    with one statement (the rows Powertools' flow writes in its second commit, so that records of
    either version are read by the other)."""

    # A record takes over an expired or abandoned one: the caller read it and holds the claim.
    _WRITE = (
        "INSERT INTO idempotency VALUES (?, ?, NULL, 'COMPLETED', ?, NULL) ON CONFLICT(id) DO UPDATE SET"
        " expiration = excluded.expiration, in_progress_expiration = NULL, status = 'COMPLETED',"
        " data = excluded.data, validation = NULL"
    )

    _READ = "SELECT status, expiration, in_progress_expiration, data FROM idempotency WHERE id = ?"

    def __init__(self, conn: Callable[[], sqlite3.Connection], file: _FileConnections) -> None:
        self._conn = conn  # the store's connection of the calling thread
        self.claims = file.claims
        self._prune = file.prune_if_due  # the expired records, now and then

    def read(self, key: str) -> StoredRecord | None:
        row = self._conn().execute(self._READ, (key,)).fetchone()
        return None if row is None else StoredRecord(*row)

    def write(self, key: str, answer_json: str, expiration: int) -> None:
        """Store a COMPLETED record, committed when this returns (autocommit: one statement, one
        transaction; synchronous=NORMAL in WAL mode: it survives a crash of the process)."""
        conn = self._conn()
        conn.execute(self._WRITE, (key, expiration, answer_json))
        self._prune(conn)


# -- replay markers on SQLite ---------------------------------------------------------------------

FLUSH_SECONDS = 0.05  # how far the markers on disk may lag behind memory (README, Replayed requests)
_ROWS_PER_INSERT = 400  # 800 parameters: within SQLite's smallest limit (999)


def _insert_markers(rows: int) -> str:
    """One INSERT of ``rows`` markers (placeholders only: the values are bound)."""
    return "INSERT OR IGNORE INTO replay_markers VALUES " + ", ".join(["(?, ?)"] * rows)  # noqa: S608


class ReplayMarkers:
    """The replay markers of the operations whose answers are never stored (``KMS_REPLAY_PROTECTION=
    all``) for one SQLite file, held in process memory and written to disk behind the requests.

    A marker is a 32-byte key and its expiry (epoch seconds). :meth:`claim` is the put-if-absent,
    atomic across the process's threads; this process's memory is the authority, so a request pays a
    dict look-up instead of a SQLite commit (40–90 µs here, against a ~300 µs create-datakey). A
    background thread writes the new markers in one transaction every :data:`FLUSH_SECONDS` and on
    :meth:`close` (at exit too), and drops the expired ones from memory and disk; a new process
    loads the unexpired ones when it first needs them. What that costs in safety (a crash loses the last
    ~50 ms of markers; one `skms serve` per data directory): README, Replayed requests."""

    # Ordered by expiry, so pruning deletes a range at the front of the table.
    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS replay_markers (expiration INTEGER NOT NULL, digest BLOB NOT NULL,"
        " PRIMARY KEY (expiration, digest)) WITHOUT ROWID"
    )
    # Markers of earlier versions (one synchronous Powertools record each, key prefix + hex digest):
    # read too at start, so that an upgrade does not reopen the window of a request answered before it.
    _LEGACY = (
        "SELECT expiration, substr(id, -64) FROM idempotency WHERE id GLOB 'skms#*#replay#*'"
        " AND status = 'COMPLETED' AND data IS NULL AND expiration >= ?"
    )

    def __init__(self, path: Path, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.path = path
        self._flush_seconds = flush_seconds
        self._lock = threading.Lock()  # guards the three below and the flusher's start and stop
        self._expiry: dict[bytes, int] = {}
        # The keys by expiry, one list per second (a key claimed again later is listed again;
        # pruning drops a listed key only if its expiry is still that one).
        self._by_expiry: deque[tuple[int, list[bytes]]] = deque()
        self._pending: list[tuple[int, bytes]] = []  # claimed, not yet on disk
        self._flusher: tuple[threading.Thread, threading.Event] | None = None
        self._writing = threading.Lock()  # one flush at a time (the flusher's, or close's)
        self._conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with _SETUP:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(self._SCHEMA)
        self._load(int(time.time()))

    def _load(self, now: int) -> None:
        rows = self._conn.execute(
            "SELECT expiration, digest FROM replay_markers WHERE expiration >= ?", (now,)
        ).fetchall()
        legacy = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'idempotency'"
        ).fetchone()
        for expiration, hex_digest in self._conn.execute(self._LEGACY, (now,)) if legacy else ():
            try:
                rows.append((expiration, bytes.fromhex(hex_digest)))
            except ValueError:  # not a marker of ours
                continue
        for expiration, key in sorted(rows):
            if self._expiry.get(key, -1) < expiration:
                self._remember(key, expiration)

    def _remember(self, key: bytes, expiry: int) -> None:
        if self._by_expiry and self._by_expiry[-1][0] == expiry:
            self._by_expiry[-1][1].append(key)
            expiry = self._by_expiry[-1][0]  # one int object per second, not one per marker
        else:
            self._by_expiry.append((expiry, [key]))
        self._expiry[key] = expiry

    def __len__(self) -> int:
        """How many markers are held (expired ones until the next flush prunes them)."""
        return len(self._expiry)

    def claim(self, key: bytes, expiry: int, now: int) -> int | None:
        """Put-if-absent: remember ``key`` until ``expiry`` unless a live marker (expiry >= ``now``,
        the DynamoDB layer's condition) holds it. Returns None when claimed, else the live marker's
        expiry (the caller applies the grace rule)."""
        with self._lock:
            held = self._expiry.get(key)
            if held is not None and held >= now:
                return held
            self._remember(key, expiry)
            self._pending.append((expiry, key))
            if self._flusher is None:
                self._start_flusher()
        return None

    def _start_flusher(self) -> None:
        stop = threading.Event()
        thread = threading.Thread(
            target=self._flush_until, args=(stop,), name="skms-replay-markers", daemon=True
        )
        self._flusher = (thread, stop)
        thread.start()

    def _flush_until(self, stop: threading.Event) -> None:
        while not stop.wait(self._flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Write the pending markers in one transaction and drop the expired ones from memory and
        disk. On a SQLite error the pending markers stay pending (memory still refuses their
        replays) and the next flush tries again."""
        now = int(time.time())
        with self._lock:
            pending, self._pending = self._pending, []
            pruned = self._prune(now)
        if not pending and not pruned:
            return
        with self._writing:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                # Many rows per statement, not executemany: sqlite3 releases the GIL around each
                # statement it steps, and a hand-off per marker would stall the request threads.
                for start in range(0, len(pending), _ROWS_PER_INSERT):
                    rows = pending[start : start + _ROWS_PER_INSERT]
                    self._conn.execute(_insert_markers(len(rows)), list(itertools.chain.from_iterable(rows)))
                if pruned:
                    self._conn.execute("DELETE FROM replay_markers WHERE expiration < ?", (now,))
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                with self._lock:
                    self._pending[:0] = pending
                logger.warning(
                    "replay markers not written yet; retried",
                    extra={"error": type(exc).__name__, "pending_markers": len(pending)},
                )

    def _prune(self, now: int) -> bool:
        """Drop the markers that expired before ``now`` (under the lock); whether any were."""
        pruned = False
        while self._by_expiry and self._by_expiry[0][0] < now:
            expiry, keys = self._by_expiry.popleft()
            for key in keys:
                if self._expiry.get(key) == expiry:  # not claimed again since
                    del self._expiry[key]
            pruned = True
        return pruned

    def close(self) -> None:
        """Stop the flusher and write what is pending (a later claim starts a flusher again)."""
        with self._lock:
            flusher, self._flusher = self._flusher, None
        if flusher is not None:
            thread, stop = flusher
            stop.set()
            thread.join()
        self.flush()


_BOOKS: dict[Path, ReplayMarkers] = {}
_BOOKS_LOCK = threading.Lock()


def replay_markers_at(path: Path) -> ReplayMarkers:
    """The process's one :class:`ReplayMarkers` of the SQLite file at ``path`` (every operation's
    guard shares it: one flusher, one load)."""
    path = path.resolve()
    with _BOOKS_LOCK:
        book = _BOOKS.get(path)
        if book is None:
            book = _BOOKS[path] = ReplayMarkers(path)
        return book


@atexit.register
def close_replay_markers() -> None:
    """Write every pending marker and forget the books (at exit; tests call it to play a restart)."""
    with _BOOKS_LOCK:
        books = list(_BOOKS.values())
        _BOOKS.clear()
    for book in books:
        book.close()


@functools.cache
def _spread_dynamodb_layer() -> type[BasePersistenceLayer]:
    """Powertools' DynamoDB layer with the partition chosen per record (imported on first use:
    boto3 is not needed locally)."""
    from aws_lambda_powertools.utilities.idempotency.persistence.dynamodb import DynamoDBPersistenceLayer

    class SpreadDynamoDBPersistenceLayer(DynamoDBPersistenceLayer):
        def _get_key(self, idempotency_key: str) -> dict[str, Any]:
            assert self.sort_key_attr is not None  # built with one (build_persistence)
            return {
                self.key_attr: {"S": partition_of(idempotency_key)},
                self.sort_key_attr: {"S": idempotency_key},
            }

    return SpreadDynamoDBPersistenceLayer


def build_persistence(settings: Settings, *, replay_records: bool = False) -> BasePersistenceLayer:
    """``replay_records``: for :class:`skms.idempotency.ReplayGuard`. On SQLite they are committed
    without an fsync of their own (WAL, synchronous=NORMAL: safe against a crash of `skms serve`,
    not of the host): an fsync per request cost more than create-datakey itself, and a record lost
    with the host only reopens its request's 30-minute window. The records with answers are one
    commit per request (:meth:`SqliteIdempotencyStore.replay_answers`); the markers without answers
    are not committed per request at all (:meth:`SqliteIdempotencyStore.replay_markers`)."""
    if settings.storage == "dynamodb":
        import boto3

        assert settings.table_name is not None
        layer: BasePersistenceLayer = _spread_dynamodb_layer()(  # type: ignore[call-arg]
            table_name=settings.table_name,
            key_attr="PK",
            sort_key_attr="SK",
            static_pk_value=PARTITION_PREFIX,  # unused: every key names its partition
            boto3_client=boto3.client("dynamodb", endpoint_url=settings.dynamodb_endpoint),
        )
        return layer
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = settings.data_dir / "idempotency.sqlite3"
    return SqliteIdempotencyStore(path, synchronous="NORMAL" if replay_records else "FULL")
