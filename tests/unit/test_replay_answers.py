"""Replayed state-changing requests on SQLite (`skms serve`, ``KMS_REPLAY_PROTECTION=state-changing``):
the first answer, an error included, answers every later arrival without running it; the records
are Powertools' rows, so that records written by the previous version (Powertools' flow) are
honoured and the other way round (README, Replayed requests)."""

from __future__ import annotations

import copy
import gc
import json
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

from skms import errors, idempotency
from skms.auth.principals import create_access_key
from skms.config import Settings
from skms.runtime import Services, build_services, set_services
from skms.sam_template import load_handler, routes_from_template
from skms.storage.idempotency import SqliteIdempotencyStore
from tests.conftest import DIRECT_PROJECTS, PROJECT_ID, TEMPLATE
from tests.support.signer import authorized_event

AK, SK = "AKANSWERAKANSWERAKAN", "answer-secret-key-answer-secret-key-0000"
WINDOW = idempotency.REPLAY_WINDOW_SECONDS
ANSWER = {"payload": {"key_info": {"key_id": "k-1", "key_state": "3"}}, "headers": {}}


@pytest.fixture(autouse=True)
def replays_come_later(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay arrives after the same-second grace unless a test is marked to keep it: these tests
    run faster than a second."""
    if "keeps_grace" not in request.keywords:
        monkeypatch.setattr(idempotency, "REPLAY_GRACE_SECONDS", 0)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "idempotency.sqlite3"


def _guard(path: Path, operation: str = "enable-key") -> idempotency.ReplayGuard:
    # What the handler builds: build_persistence(settings, replay_records=True)
    return idempotency.ReplayGuard(
        operation, SqliteIdempotencyStore(path, synchronous="NORMAL"), answers=True
    )


def _rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id, expiration, status, data FROM idempotency").fetchall()


def _put_row(
    path: Path, *, status: str, expiration: int, data: str | None = None, in_progress: int | None = None
) -> None:
    """A record of request "f" * 64 to enable-key, written straight into the table (as another
    version or an earlier request left it)."""
    key = idempotency.replay_record_key("skms#enable-key#replay", "f" * 64)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, NULL)",
            (key, expiration, in_progress, status, data),
        )


class Work:
    """A request's work: counts its runs, answers ``answer`` or raises ``error``."""

    def __init__(self, answer: dict[str, Any] | None = None, error: Exception | None = None) -> None:
        self.runs = 0
        self.answer = answer if answer is not None else ANSWER
        self.error = error

    def __call__(self) -> dict[str, Any]:
        self.runs += 1
        if self.error is not None:
            raise self.error
        return copy.deepcopy(self.answer)


def _powertools_guard(path: Path, operation: str, work: Work) -> Any:
    """The previous version's guard on SQLite: Powertools Idempotency over the same store (its
    config, key prefix and error answers, as ReplayGuard had them)."""
    store = SqliteIdempotencyStore(path, synchronous="NORMAL")
    config = IdempotencyConfig(
        event_key_jmespath="request",
        expires_after_seconds=WINDOW,
        raise_on_no_idempotency_key=True,
        hash_function="sha256",
    )
    config.register_lambda_context(idempotency._NoLambdaContext())  # type: ignore[arg-type]

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request",
        persistence_store=store,
        config=config,
        key_prefix=f"skms#{operation}#replay",
    )
    def run(request: dict[str, Any]) -> dict[str, Any]:
        try:
            return work()
        except errors.KmsError as exc:
            return {"error": {"status": exc.status, "code": exc.code, "message": exc.message}}

    return run, store


# -- the guard on SQLite ----------------------------------------------------------------------------


def test_the_record_id_is_the_one_powertools_computes(path: Path) -> None:
    fingerprint = uuid.uuid4().hex * 2
    _, store = _powertools_guard(path, "enable-key", Work())
    store.configure(
        IdempotencyConfig(event_key_jmespath="request", hash_function="sha256"),
        key_prefix="skms#enable-key#replay",
    )
    expected = store._get_hashed_idempotency_key({"request": fingerprint})
    assert idempotency.replay_record_key("skms#enable-key#replay", fingerprint) == expected
    # And the guard writes its record under that id
    _guard(path).run(fingerprint=fingerprint, context=None, work=Work())
    assert [row[0] for row in _rows(path)] == [expected]


def test_a_replay_gets_the_first_answer_without_running(path: Path) -> None:
    guard, work = _guard(path), Work()
    first = guard.run(fingerprint="f" * 64, context=None, work=work)
    assert first == ANSWER
    again = guard.run(fingerprint="f" * 64, context=None, work=work)
    assert (again, work.runs) == (ANSWER, 1)
    # Another request runs
    assert guard.run(fingerprint="e" * 64, context=None, work=work) == ANSWER
    assert work.runs == 2


def test_the_record_holds_the_answer_and_expires_with_the_window(path: Path) -> None:
    before = int(time.time())
    _guard(path).run(fingerprint="f" * 64, context=None, work=Work())
    ((key, expiration, status, data),) = _rows(path)
    assert key == idempotency.replay_record_key("skms#enable-key#replay", "f" * 64)
    assert status == "COMPLETED"
    assert json.loads(data) == ANSWER
    assert before + WINDOW <= expiration <= int(time.time()) + WINDOW


def test_a_refusal_is_the_answer_of_its_replays(path: Path) -> None:
    guard, work = _guard(path), Work(error=errors.KeyNotDisabled())
    with pytest.raises(errors.KmsError) as first:
        guard.run(fingerprint="f" * 64, context=None, work=work)
    with pytest.raises(errors.KmsError) as replay:
        guard.run(fingerprint="f" * 64, context=None, work=work)
    assert work.runs == 1
    assert (replay.value.status, replay.value.body()) == (first.value.status, first.value.body())


def test_a_crash_during_the_work_leaves_nothing_and_a_retry_runs(path: Path) -> None:
    guard = _guard(path)
    with pytest.raises(RuntimeError):
        guard.run(fingerprint="f" * 64, context=None, work=Work(error=RuntimeError("bug")))
    assert _rows(path) == []
    retry = Work()
    assert guard.run(fingerprint="f" * 64, context=None, work=retry) == ANSWER
    assert retry.runs == 1


@pytest.mark.keeps_grace
def test_a_repeat_within_the_grace_runs_again_and_keeps_the_first_record(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard, work = _guard(path), Work()
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start)
    guard.run(fingerprint="f" * 64, context=None, work=work)
    record = _rows(path)
    # Half a second later: the client's own repeat, a new request
    monkeypatch.setattr(time, "time", lambda: start + 0.5)
    guard.run(fingerprint="f" * 64, context=None, work=Work(answer={"payload": None, "headers": {}}))
    assert _rows(path) == record
    # After the grace: a replay, answered from the first record
    monkeypatch.setattr(time, "time", lambda: start + idempotency.REPLAY_GRACE_SECONDS + 1)
    assert guard.run(fingerprint="f" * 64, context=None, work=work) == ANSWER
    assert work.runs == 1


def test_threads_racing_one_request_run_it_once(path: Path) -> None:
    guard = _guard(path)
    threads = 8
    start = threading.Barrier(threads)
    runs: list[int] = []
    answers: list[dict[str, Any]] = []
    busy: list[str] = []

    def send(number: int) -> None:
        def work() -> dict[str, Any]:
            runs.append(number)
            time.sleep(0.05)  # still running while the others arrive (not a timing assertion)
            return ANSWER

        start.wait()
        try:
            answers.append(guard.run(fingerprint="f" * 64, context=None, work=work))
        except errors.ServiceUnavailable as exc:
            busy.append(exc.code)

    workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(runs) == 1
    assert len(answers) + len(busy) == threads
    assert answers
    assert all(answer == ANSWER for answer in answers)
    assert set(busy) <= {"KMS.0104"}


def test_a_record_of_the_previous_version_is_honoured(path: Path) -> None:
    # Given a request answered by the previous version (Powertools' flow on the same file)
    old_work = Work()
    run, _ = _powertools_guard(path, "enable-key", old_work)
    assert run(request={"request": "f" * 64}) == ANSWER
    # When this version meets it again / Then it answers the first answer without running
    work = Work(answer={"payload": "another", "headers": {}})
    assert _guard(path).run(fingerprint="f" * 64, context=None, work=work) == ANSWER
    assert work.runs == 0


def test_a_record_of_this_version_is_honoured_by_the_previous_one(path: Path) -> None:
    _guard(path).run(fingerprint="f" * 64, context=None, work=Work())
    old_work = Work(answer={"payload": "another", "headers": {}})
    run, _ = _powertools_guard(path, "enable-key", old_work)
    assert run(request={"request": "f" * 64}) == ANSWER
    assert old_work.runs == 0


def test_a_refusal_recorded_by_the_previous_version_is_answered_again(path: Path) -> None:
    run, _ = _powertools_guard(path, "enable-key", Work(error=errors.KeyNotDisabled()))
    run(request={"request": "f" * 64})
    with pytest.raises(errors.KmsError) as replay:
        _guard(path).run(fingerprint="f" * 64, context=None, work=Work())
    assert replay.value.body() == errors.KeyNotDisabled().body()
    assert replay.value.status == errors.KeyNotDisabled.status


def test_an_in_progress_record_of_the_previous_version_holds_until_its_lock_lapses(path: Path) -> None:
    # Given the previous version's in-progress record (a request running, or crashed, elsewhere)
    guard = _guard(path)
    now = time.time()
    _put_row(path, status="INPROGRESS", expiration=int(now) + WINDOW, in_progress=int(now * 1000) + 30_000)
    work = Work()
    with pytest.raises(errors.ServiceUnavailable):
        guard.run(fingerprint="f" * 64, context=None, work=work)
    # When its lock has lapsed / Then the request runs and its record replaces the old one
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE idempotency SET in_progress_expiration = ?", (int(now * 1000) - 1,))
    assert guard.run(fingerprint="f" * 64, context=None, work=work) == ANSWER
    assert work.runs == 1
    assert [(row[2], json.loads(row[3])) for row in _rows(path)] == [("COMPLETED", ANSWER)]


def test_an_expired_record_is_replaced(path: Path) -> None:
    guard = _guard(path)
    old = json.dumps({"payload": "old", "headers": {}})
    _put_row(path, status="COMPLETED", expiration=int(time.time()) - 1, data=old)
    work = Work()
    assert guard.run(fingerprint="f" * 64, context=None, work=work) == ANSWER
    assert work.runs == 1
    assert json.loads(_rows(path)[0][3]) == ANSWER


def test_a_record_without_an_answer_refuses_the_request(path: Path) -> None:
    # A row with no answer (a marker's shape) says the request was used, and nothing else
    guard = _guard(path)
    _put_row(path, status="COMPLETED", expiration=int(time.time()) + WINDOW)
    work = Work()
    with pytest.raises(errors.AccessDenied):
        guard.run(fingerprint="f" * 64, context=None, work=work)
    assert work.runs == 0


# -- the connections to the file ------------------------------------------------------------------


def test_the_stores_of_a_file_share_a_connection_per_thread_each_committing_with_its_own_durability(
    path: Path,
) -> None:
    sequences = SqliteIdempotencyStore(path)  # FULL: the sequence records
    replays = SqliteIdempotencyStore(path, synchronous="NORMAL")
    assert sequences._conn() is replays._conn()
    # The level in force is the one of the store that hands the connection out
    assert replays._conn().execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert sequences._conn().execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert replays._conn().execute("PRAGMA synchronous").fetchone() == (1,)
    # Another thread has its own
    elsewhere: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: elsewhere.append(sequences._conn()))
    thread.start()
    thread.join()
    assert elsewhere[0] is not sequences._conn()


def test_the_connections_go_with_the_last_store_of_the_file(path: Path) -> None:
    store = SqliteIdempotencyStore(path)
    connections = weakref.ref(store._connections)
    del store
    gc.collect()
    assert connections() is None


# -- through the functions -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def handlers() -> dict[str, Any]:
    return {route.code_uri.name: load_handler(route) for route in routes_from_template(TEMPLATE)}


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    # The default KMS_REPLAY_PROTECTION (state-changing); direct invocations set the scene
    yield Settings(data_dir=tmp_path / "kms-data", direct_invocation_projects=DIRECT_PROJECTS)
    set_services(None)


def _serve(settings: Settings) -> Services:
    services = build_services(settings)
    set_services(services)
    return services


def _signed(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """An AK/SK request signed now, as the function gets it after the authorizer allowed it."""
    return authorized_event(operation, body, access_key=AK, secret_key=SK, project_id=PROJECT_ID)


def _send(handlers: dict[str, Any], function: str, event: dict[str, Any]) -> tuple[int, str]:
    reply = handlers[function](copy.deepcopy(event), None)
    return reply["statusCode"], reply["body"]


def _direct(handlers: dict[str, Any], function: str, body: dict[str, Any]) -> dict[str, Any]:
    """Unsigned (a direct invocation): never deduplicated, to set the scene."""
    reply: dict[str, Any] = handlers[function]({"project_id": PROJECT_ID, "body": body}, None)
    return reply


def _state(services: Services, key_id: str) -> str:
    record = services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    return str(record.key_state.value)


@pytest.fixture
def key_id(settings: Settings, handlers: dict[str, Any]) -> str:
    services = _serve(settings)
    create_access_key(services, domain_id="d" * 32, project_ids=(PROJECT_ID,), access_key=AK, secret_key=SK)
    return str(_direct(handlers, "create_key", {"key_alias": "replayed"})["key_info"]["key_id"])


def test_a_replayed_enable_key_leaves_the_key_disabled_also_after_a_restart(
    settings: Settings, handlers: dict[str, Any], key_id: str
) -> None:
    # Given a disabled key, enabled by a signed request that an attacker captured
    assert _direct(handlers, "disable_key", {"key_id": key_id})["key_info"]["key_state"] == "3"
    captured = _signed("enable-key", {"key_id": key_id})
    first = _send(handlers, "enable_key", captured)
    assert first[0] == 200, first
    # And the owner disables the key again
    _direct(handlers, "disable_key", {"key_id": key_id})
    # When the captured request is sent again / Then the first answer, byte for byte, and no change
    assert _send(handlers, "enable_key", captured) == first
    services = _serve(settings)  # a restart: new services, new guards, on the same data directory
    assert _send(handlers, "enable_key", captured) == first
    assert _state(services, key_id) == "3"
    # The record holds a hash and the answer: no signature, no access key
    signature = captured["headers"]["Authorization"].rsplit("Signature=", 1)[1]
    stored = repr(_rows(settings.data_dir / "idempotency.sqlite3"))
    assert signature not in stored
    assert AK not in stored


def test_a_replayed_refusal_is_refused_again_without_running(
    settings: Settings, handlers: dict[str, Any], key_id: str
) -> None:
    # Given a signed enable-key of an enabled key, refused (KMS.1201)
    captured = _signed("enable-key", {"key_id": key_id})
    status, body = _send(handlers, "enable_key", captured)
    assert (status, json.loads(body)["error"]["error_code"]) == (400, "KMS.1201")
    # When the key is disabled and the request replayed / Then the same refusal, the key stays disabled
    _direct(handlers, "disable_key", {"key_id": key_id})
    assert _send(handlers, "enable_key", captured) == (status, body)
    assert _state(_serve(settings), key_id) == "3"


def test_a_replayed_create_key_creates_one_key(
    settings: Settings, handlers: dict[str, Any], key_id: str
) -> None:
    captured = _signed("create-key", {"key_alias": "once"})
    status, first = _send(handlers, "create_key", captured)
    assert status == 200, first
    # The same answer (its members in the record's order, sorted, as the previous version answered)
    again = _send(handlers, "create_key", captured)
    assert (again[0], json.loads(again[1])) == (200, json.loads(first))
    assert _serve(settings).stores.keys.count_keys(PROJECT_ID) == 2  # key_id's and this one


@pytest.mark.keeps_grace
def test_the_clients_own_repeat_within_the_grace_runs_again(
    handlers: dict[str, Any], key_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = _signed("disable-key", {"key_id": key_id})
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start)
    assert _send(handlers, "disable_key", captured)[0] == 200
    # Within the grace: a new request (disabling a disabled key is KMS.1301, as without protection)
    monkeypatch.setattr(time, "time", lambda: start + 0.5)
    status, body = _send(handlers, "disable_key", captured)
    assert (status, json.loads(body)["error"]["error_code"]) == (400, "KMS.1301")
    # After the grace: a replay, the first answer
    monkeypatch.setattr(time, "time", lambda: start + idempotency.REPLAY_GRACE_SECONDS + 1)
    assert _send(handlers, "disable_key", captured)[0] == 200
