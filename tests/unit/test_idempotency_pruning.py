"""Expired idempotency and replay records are deleted from the SQLite file now and then, so that it
holds about one window of records instead of growing for as long as `skms serve` runs."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from skms import idempotency
from skms.storage import idempotency as storage

ANSWER = {"payload": {"key_info": {"key_id": "k-1", "key_state": "2"}}, "headers": {}}


def _insert(path: Path, count: int, expiration: int, prefix: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO idempotency VALUES (?, ?, NULL, 'COMPLETED', '{}', NULL)",
            [(f"{prefix}-{i}", expiration) for i in range(count)],
        )


def _ids(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM idempotency")}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "idempotency.sqlite3"


def test_a_replay_record_write_deletes_the_expired_records_and_keeps_the_live(path: Path) -> None:
    store = storage.SqliteIdempotencyStore(path, synchronous="NORMAL")
    now = int(time.time())
    _insert(path, 30, now - 10, "expired")
    _insert(path, 5, now + 600, "live")
    guard = idempotency.ReplayGuard("enable-key", store, answers=True)
    assert guard.run(fingerprint="f" * 64, context=None, work=lambda: ANSWER) == ANSWER
    left = _ids(path)
    assert not any(key.startswith("expired") for key in left)
    assert {f"live-{i}" for i in range(5)} <= left
    assert len(left) == 6  # and the record just written


def test_pruning_runs_at_most_once_per_interval_and_again_soon_after_a_full_batch(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = storage.SqliteIdempotencyStore(path, synchronous="NORMAL")
    monkeypatch.setattr(storage, "PRUNE_BATCH", 10)
    connections = storage._connections_to(path)
    conn = store._conn()
    now = int(time.time())
    _insert(path, 25, now - 10, "expired")
    assert connections.prune_if_due(conn) == 10  # a full batch: due again a second later
    assert connections.prune_if_due(conn) == 0  # not yet
    monkeypatch.setattr(connections, "_next_prune", 0.0)  # a second has passed
    assert connections.prune_if_due(conn) == 10
    monkeypatch.setattr(connections, "_next_prune", 0.0)
    assert connections.prune_if_due(conn) == 5  # the backlog is gone: next in PRUNE_SECONDS
    _insert(path, 3, now - 10, "later")
    assert connections.prune_if_due(conn) == 0
    assert len(_ids(path)) == 3


def test_the_expiry_index_serves_the_pruning(path: Path) -> None:
    storage.SqliteIdempotencyStore(path)
    with sqlite3.connect(path) as conn:
        plan = " ".join(str(row) for row in conn.execute("EXPLAIN QUERY PLAN " + storage._PRUNE, (0, 1)))
    assert "idempotency_by_expiration" in plan
