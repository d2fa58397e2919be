"""Persistence of idempotency records (see :mod:`skms.idempotency`): Powertools' DynamoDB layer
on the keys table (TTL attribute ``expiration``), or the same contract on SQLite for `skms serve`.

On DynamoDB the records are spread over :data:`PARTITIONS` partitions ``IDEMPOTENCY#<2 hex
digits>``, chosen by a hash of the record's key: one partition for all of them was a hot key
under load. Records written before (partition ``IDEMPOTENCY``) are no longer read; they expire
through TTL within the hour (a sequence retried across the upgrade runs once more)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from skms.config import Settings

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


class SqliteIdempotencyStore(BasePersistenceLayer):
    """Powertools' persistence contract on SQLite, with the DynamoDB layer's put conditions."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._path = path
        self._synchronous = synchronous
        self._local = threading.local()
        with _SETUP, self._conn() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS idempotency (id TEXT PRIMARY KEY, expiration INTEGER NOT NULL,"
                " in_progress_expiration INTEGER, status TEXT NOT NULL, data TEXT, validation TEXT)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, timeout=10, isolation_level=None)
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._local.conn = conn
        return conn

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
        self._conn().execute(
            "UPDATE idempotency SET data = ?, status = ?, expiration = ? WHERE id = ?",
            (
                data_record.response_data,
                data_record.status,
                data_record.expiry_timestamp,
                data_record.idempotency_key,
            ),
        )

    def _delete_record(self, data_record: DataRecord) -> None:
        self._conn().execute("DELETE FROM idempotency WHERE id = ?", (data_record.idempotency_key,))


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
    with the host only reopens its request's 30-minute window."""
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
