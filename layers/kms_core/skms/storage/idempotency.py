"""Persistence of idempotency records (see :mod:`skms.idempotency`): Powertools' DynamoDB layer
on the keys table (partition ``IDEMPOTENCY``, TTL attribute ``expiration``), or the same contract
on SQLite for `skms serve`."""

from __future__ import annotations

import datetime as dt
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

STATIC_PARTITION = "IDEMPOTENCY"
# Switching a database to WAL takes an exclusive lock that SQLite's busy handler does not always wait
# for: two first requests racing to set it up saw "database is locked". WAL mode is a property of the
# file, so it is set once, by one thread of the process, when the store is opened.
_SETUP = threading.Lock()


class SqliteIdempotencyStore(BasePersistenceLayer):
    """Powertools' persistence contract on SQLite, with the DynamoDB layer's put conditions."""

    def __init__(self, path: Path) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._path = path
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
            conn.execute("PRAGMA synchronous=FULL")
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

    def _put_record(self, data_record: DataRecord) -> None:
        now = dt.datetime.now()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT * FROM idempotency WHERE id = ?", (data_record.idempotency_key,)
            ).fetchone()
            if row is not None:
                old = self._record(row)
                expired = old.expiry_timestamp is not None and old.expiry_timestamp < int(now.timestamp())
                stale = (
                    old.status == "INPROGRESS"
                    and old.in_progress_expiry_timestamp is not None
                    and old.in_progress_expiry_timestamp < int(now.timestamp() * 1000)
                )
                if not (expired or stale):
                    self._validate_payload(data_payload=data_record, stored_data_record=old)
                    raise IdempotencyItemAlreadyExistsError(old_data_record=old)
            conn.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
                (
                    data_record.idempotency_key,
                    data_record.expiry_timestamp,
                    data_record.in_progress_expiry_timestamp,
                    data_record.status,
                    None,
                    data_record.payload_hash if self.payload_validation_enabled else None,
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

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


def build_persistence(settings: Settings) -> BasePersistenceLayer:
    if settings.storage == "dynamodb":
        import boto3
        from aws_lambda_powertools.utilities.idempotency.persistence.dynamodb import DynamoDBPersistenceLayer

        assert settings.table_name is not None
        return DynamoDBPersistenceLayer(
            table_name=settings.table_name,
            key_attr="PK",
            sort_key_attr="SK",
            static_pk_value=STATIC_PARTITION,
            boto3_client=boto3.client("dynamodb", endpoint_url=settings.dynamodb_endpoint),
        )
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return SqliteIdempotencyStore(settings.data_dir / "idempotency.sqlite3")
