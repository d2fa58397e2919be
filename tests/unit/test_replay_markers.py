"""Replay markers on SQLite (``KMS_REPLAY_PROTECTION=all`` under `skms serve`): held in process
memory, atomic across threads, written to disk behind the requests by a flusher thread, loaded again
by the next process (README, Replayed requests)."""

from __future__ import annotations

import copy
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord

from skms import errors, idempotency
from skms.auth.principals import create_access_key
from skms.config import Settings
from skms.runtime import Services, build_services, set_services
from skms.sam_template import load_handler, routes_from_template
from skms.storage.idempotency import (
    ReplayMarkers,
    SqliteIdempotencyStore,
    close_replay_markers,
    replay_markers_at,
)
from tests.conftest import PROJECT_ID, TEMPLATE
from tests.support.signer import authorized_event

AK, SK = "AKREPLAYAKREPLAYAKRE", "replay-secret-key-replay-secret-key-0000"
WINDOW = idempotency.REPLAY_WINDOW_SECONDS


def _key(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def _on_disk(path: Path) -> dict[bytes, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT digest, expiration FROM replay_markers").fetchall())


@pytest.fixture
def path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "idempotency.sqlite3"
    close_replay_markers()


@pytest.fixture
def book(path: Path) -> Iterator[ReplayMarkers]:
    # A flush interval that never elapses within a test: the tests flush explicitly.
    markers = ReplayMarkers(path, flush_seconds=3600)
    yield markers
    markers.close()


def test_a_marker_refuses_its_key_until_it_expires(book: ReplayMarkers) -> None:
    now = int(time.time())
    assert book.claim(_key("a"), now + WINDOW, now) is None
    # Held: the claim is refused with the first arrival's expiry, which stays
    assert book.claim(_key("a"), now + 5 + WINDOW, now + 5) == now + WINDOW
    assert book.claim(_key("b"), now + WINDOW, now) is None
    # At its expiry second it still holds; after it, the key is free again
    assert book.claim(_key("a"), now + 2 * WINDOW, now + WINDOW) == now + WINDOW
    assert book.claim(_key("a"), now + 2 * WINDOW + 1, now + WINDOW + 1) is None


def test_markers_survive_a_restart(path: Path, book: ReplayMarkers) -> None:
    # Given a marker claimed and written (close: what `skms serve` does at exit)
    now = int(time.time())
    assert book.claim(_key("a"), now + WINDOW, now) is None
    book.close()
    assert _on_disk(path) == {_key("a"): now + WINDOW}
    # When a new process loads the markers / Then it refuses the same key, with the same expiry
    restarted = ReplayMarkers(path, flush_seconds=3600)
    assert len(restarted) == 1
    assert restarted.claim(_key("a"), now + 1 + WINDOW, now + 1) == now + WINDOW
    assert restarted.claim(_key("b"), now + 1 + WINDOW, now + 1) is None


def test_one_flush_writes_every_pending_marker(path: Path, book: ReplayMarkers) -> None:
    # More markers than one INSERT statement takes
    now = int(time.time())
    keys = {_key(str(n)): now + WINDOW + n // 300 for n in range(1001)}
    for key, expiry in keys.items():
        assert book.claim(key, expiry, now) is None
    book.flush()
    assert _on_disk(path) == keys


def test_the_flusher_writes_the_markers_without_being_asked(path: Path) -> None:
    markers = replay_markers_at(path)
    now = int(time.time())
    assert markers.claim(_key("a"), now + WINDOW, now) is None
    # The flusher thread writes every FLUSH_SECONDS; waited for here, never timed
    deadline = time.monotonic() + 30
    while not _on_disk(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _on_disk(path) == {_key("a"): now + WINDOW}


def test_one_book_per_file_in_a_process(path: Path) -> None:
    assert replay_markers_at(path) is replay_markers_at(path.parent / "." / path.name)


def test_expired_markers_are_dropped_from_memory_and_disk(path: Path, book: ReplayMarkers) -> None:
    # Given a marker that has expired by now and a live one, both on disk
    now = int(time.time())
    assert book.claim(_key("old"), now - 10, now - 10 - WINDOW) is None
    assert book.claim(_key("live"), now + WINDOW, now) is None
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO replay_markers VALUES (?, ?)", (now - 20, _key("older")))
    # When the flusher runs / Then only the live marker is left, in memory and on disk
    book.flush()
    assert len(book) == 1
    assert _on_disk(path) == {_key("live"): now + WINDOW}
    assert len(ReplayMarkers(path, flush_seconds=3600)) == 1


def test_a_key_claimed_again_after_expiry_outlives_its_first_marker(book: ReplayMarkers) -> None:
    now = int(time.time())
    assert book.claim(_key("a"), now - 5, now - 5 - WINDOW) is None
    assert book.claim(_key("a"), now + WINDOW, now) is None
    book.flush()  # prunes the first expiry's list, which still names the key
    assert book.claim(_key("a"), now + 1 + WINDOW, now + 1) == now + WINDOW


def test_a_failed_write_is_retried_and_memory_still_refuses(path: Path, book: ReplayMarkers) -> None:
    now = int(time.time())
    assert book.claim(_key("a"), now + WINDOW, now) is None
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE replay_markers RENAME TO elsewhere")
    book.flush()  # no such table: nothing written
    assert book.claim(_key("a"), now + 1 + WINDOW, now + 1) == now + WINDOW
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE elsewhere RENAME TO replay_markers")
    book.flush()
    assert _on_disk(path) == {_key("a"): now + WINDOW}


def test_markers_of_the_previous_version_are_loaded(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency, "REPLAY_GRACE_SECONDS", 0)  # a repeat at once is a replay
    # Given a marker as the previous version wrote it: a Powertools record with no answer
    fingerprint = hashlib.sha256(b"access key and signature").hexdigest()
    store = SqliteIdempotencyStore(path, synchronous="NORMAL")
    expiry = int(time.time()) + WINDOW
    store._put_record(
        DataRecord(
            idempotency_key=f"skms#create_datakey#replay#{hashlib.sha256(fingerprint.encode()).hexdigest()}",
            status=STATUS_CONSTANTS["COMPLETED"],
            expiry_timestamp=expiry,
        )
    )
    # When this version's guard meets the same request / Then it is refused
    guard = idempotency.ReplayGuard("create_datakey", store, answers=False)
    with pytest.raises(errors.AccessDenied):
        guard.run(fingerprint=fingerprint, context=None, work=dict)


def test_threads_racing_one_request_run_it_exactly_once(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency, "REPLAY_GRACE_SECONDS", 0)  # a repeat at once is a replay
    guard = idempotency.ReplayGuard(
        "create_datakey", SqliteIdempotencyStore(path, synchronous="NORMAL"), answers=False
    )
    fingerprint = hashlib.sha256(b"one signed request").hexdigest()
    threads = 8
    start = threading.Barrier(threads)
    ran: list[int] = []
    refused: list[tuple[int, str]] = []

    def send(number: int) -> None:
        def work() -> dict[str, Any]:
            ran.append(number)
            return {}

        start.wait()
        try:
            guard.run(fingerprint=fingerprint, context=None, work=work)
        except errors.AccessDenied as exc:
            refused.append((number, exc.code))

    workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(ran) == 1
    assert sorted(ran + [number for number, _ in refused]) == list(range(threads))
    assert {code for _, code in refused} == {"KMS.0307"}


# -- through the functions, on SQLite with KMS_REPLAY_PROTECTION=all -----------------------------


@pytest.fixture(scope="module")
def handlers() -> dict[str, Any]:
    return {route.code_uri.name: load_handler(route) for route in routes_from_template(TEMPLATE)}


@pytest.fixture
def all_settings(tmp_path: Path) -> Iterator[Settings]:
    yield Settings(data_dir=tmp_path / "kms-data", replay_protection="all")
    set_services(None)
    close_replay_markers()


def _serve(settings: Settings) -> Services:
    services = build_services(settings)
    set_services(services)
    return services


Send = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def _signed(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """An AK/SK request signed now, as the function gets it after the authorizer allowed it."""
    return authorized_event(operation, body, access_key=AK, secret_key=SK, project_id=PROJECT_ID)


def _send(handlers: dict[str, Any], function: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    reply = handlers[function](copy.deepcopy(event), None)
    return reply["statusCode"], json.loads(reply["body"])


@pytest.fixture
def key_id(all_settings: Settings, handlers: dict[str, Any]) -> str:
    services = _serve(all_settings)
    create_access_key(services, domain_id="d" * 32, project_ids=(PROJECT_ID,), access_key=AK, secret_key=SK)
    status, body = _send(handlers, "create_key", _signed("create-key", {"key_alias": "replayed"}))
    assert status == 200, body
    return str(body["key_info"]["key_id"])


def test_with_all_on_sqlite_a_replayed_create_datakey_is_refused_also_after_a_restart(
    all_settings: Settings, handlers: dict[str, Any], key_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "REPLAY_GRACE_SECONDS", 0)
    captured = _signed("create-datakey", {"key_id": key_id, "datakey_length": "256"})
    status, first = _send(handlers, "create_datakey", captured)
    assert status == 200, first
    # A replay is refused
    status, replay = _send(handlers, "create_datakey", captured)
    assert (status, replay["error"]["error_code"]) == (403, "KMS.0307")
    # And so is one after a restart (markers written at exit, loaded by the next process)
    close_replay_markers()
    _serve(all_settings)
    status, replay = _send(handlers, "create_datakey", captured)
    assert (status, replay["error"]["error_code"]) == (403, "KMS.0307")
    # The marker on disk holds a hash: no data key, no ciphertext, no signature
    signature = captured["headers"]["Authorization"].rsplit("Signature=", 1)[1]
    with sqlite3.connect(all_settings.data_dir / "idempotency.sqlite3") as conn:
        stored = repr(conn.execute("SELECT * FROM replay_markers").fetchall())
    assert "replay_markers" not in stored
    for secret in (first["plain_text"], first["cipher_text"], signature, AK):
        assert secret not in stored
    # A new request runs (its own signature)
    status, again = _send(handlers, "create_datakey", _signed("create-datakey", {"key_id": key_id}))
    assert status == 200, again


def test_with_all_on_sqlite_the_clients_own_repeat_within_the_grace_runs_again(
    handlers: dict[str, Any], key_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = _signed("describe-key", {"key_id": key_id})
    real_time = time.time
    start = real_time()
    monkeypatch.setattr(time, "time", lambda: start)
    assert _send(handlers, "describe_key", captured)[0] == 200
    # Within the grace (under a second later): a new request, it runs
    monkeypatch.setattr(time, "time", lambda: start + 0.5)
    assert _send(handlers, "describe_key", captured)[0] == 200
    # After the grace: a replay, refused
    monkeypatch.setattr(time, "time", lambda: start + idempotency.REPLAY_GRACE_SECONDS + 1)
    status, replay = _send(handlers, "describe_key", captured)
    assert (status, replay["error"]["error_code"]) == (403, "KMS.0307")
