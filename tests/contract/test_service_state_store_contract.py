"""The ServiceStateStore contract: service secrets (create once, read consistently) and the
failed-login counters (atomic increments per user and window).

Every adapter (memory, SQLite, DynamoDB under moto) must pass all of it, the threaded tests on the
real engines (see tests/contract/conftest.py); the rules come from :mod:`skms.storage.port`.
"""

from __future__ import annotations

import threading

from skms.storage.port import Stores
from tests.contract.conftest import THREADS, run_threads

SECRET_NAME = "token-signing-key"

# -- service secrets ---------------------------------------------------------------------------


def test_get_or_create_secret_keeps_the_first_value(stores: Stores) -> None:
    # Given a secret stored by a first call
    first_value = bytes(range(256))
    assert stores.service_state.get_or_create_secret(SECRET_NAME, first_value) == first_value
    # When a second call offers a different value
    again = stores.service_state.get_or_create_secret(SECRET_NAME, b"a different value")
    # Then the first value is returned, as bytes, and stays stored
    assert again == first_value
    assert type(again) is bytes
    assert stores.service_state.get_or_create_secret(SECRET_NAME, b"yet another") == first_value


def test_get_secret_reads_what_was_created_and_nothing_before(stores: Stores) -> None:
    # Given no secret yet, Then reading it gives None and creates nothing
    assert stores.service_state.get_secret(SECRET_NAME) is None
    assert stores.service_state.get_secret(SECRET_NAME) is None
    # When it is created, Then it reads back as the first value, as bytes
    stores.service_state.get_or_create_secret(SECRET_NAME, b"\x00first\xff")
    stored = stores.service_state.get_secret(SECRET_NAME)
    assert stored == b"\x00first\xff"
    assert type(stored) is bytes
    assert stores.service_state.get_secret("another-name") is None


def test_secrets_of_different_names_are_independent(stores: Stores) -> None:
    # Given a secret under one name
    stores.service_state.get_or_create_secret("one", b"value-one")
    # When another name is asked for, Then it gets its own value
    assert stores.service_state.get_or_create_secret("two", b"value-two") == b"value-two"
    assert stores.service_state.get_or_create_secret("one", b"x") == b"value-one"
    assert stores.service_state.get_or_create_secret("two", b"x") == b"value-two"


def test_concurrent_get_or_create_secret_agrees_on_one_value(threaded_stores: Stores) -> None:
    stores = threaded_stores
    # Given 16 cold starts, each with its own candidate secret
    candidates = [f"candidate-{index}".encode() for index in range(THREADS)]
    results: list[bytes] = []
    lock = threading.Lock()

    def race(index: int) -> None:
        value = stores.service_state.get_or_create_secret(SECRET_NAME, candidates[index])
        with lock:
            results.append(value)

    # When they all ask for the secret at the same time
    errors = run_threads(THREADS, race)
    # Then every one gets the same value, one of the candidates, and it is the stored one
    assert errors == []
    assert len(results) == THREADS
    assert len(set(results)) == 1
    assert results[0] in candidates
    assert stores.service_state.get_or_create_secret(SECRET_NAME, b"late") == results[0]


# -- failed-login counters ---------------------------------------------------------------------


def test_login_failures_count_per_user_and_window(stores: Stores) -> None:
    # Given no failure yet, Then every count reads 0
    assert stores.service_state.login_failures("d", "alice", 100) == 0
    # When alice fails three times in window 100 and once in window 101, and bob once
    counts = [
        stores.service_state.add_login_failure("d", "alice", 100, expires_at=2_000_000_000) for _ in range(3)
    ]
    assert stores.service_state.add_login_failure("d", "alice", 101, expires_at=2_000_000_000) == 1
    assert stores.service_state.add_login_failure("d", "bob", 100, expires_at=2_000_000_000) == 1
    # Then each add returned the new count, and the counters are per (domain, name, window)
    assert counts == [1, 2, 3]
    assert stores.service_state.login_failures("d", "alice", 101) == 1
    assert stores.service_state.login_failures("d", "bob", 100) == 1
    assert stores.service_state.login_failures("other-domain", "alice", 101) == 0
    # And failures are not users: alice still does not exist
    assert stores.principals.get_user("d", "alice") is None


def test_a_login_attempt_can_be_taken_back(stores: Stores) -> None:
    # Given two counted attempts
    stores.service_state.add_login_failure("d", "dave", 5, expires_at=2_000_000_000)
    stores.service_state.add_login_failure("d", "dave", 5, expires_at=2_000_000_000)
    # When one is taken back (delta -1), Then the count goes down, atomically returned
    assert stores.service_state.add_login_failure("d", "dave", 5, expires_at=2_000_000_000, delta=-1) == 1
    assert stores.service_state.login_failures("d", "dave", 5) == 1


def test_a_successful_login_leaves_no_count_and_a_take_back_never_goes_below_zero(stores: Stores) -> None:
    state = stores.service_state
    # Given a login attempt counted, then taken back because the password was right
    assert state.add_login_failure("d", "erin", 9, expires_at=2_000_000_000) == 1
    assert state.add_login_failure("d", "erin", 9, expires_at=2_000_000_000, delta=-1) == 0
    # Then no failure is counted
    assert state.login_failures("d", "erin", 9) == 0
    # When a take-back finds nothing to take back (no counter, or one already at 0)
    assert state.add_login_failure("d", "erin", 9, expires_at=2_000_000_000, delta=-1) == 0
    assert state.add_login_failure("d", "frank", 9, expires_at=2_000_000_000, delta=-1) == 0
    # Then no count went below 0 (which would grant extra attempts): the next failure counts 1
    assert state.login_failures("d", "frank", 9) == 0
    assert state.add_login_failure("d", "erin", 9, expires_at=2_000_000_000) == 1
    assert state.add_login_failure("d", "frank", 9, expires_at=2_000_000_000) == 1


def test_concurrent_login_failures_are_all_counted(threaded_stores: Stores) -> None:
    stores = threaded_stores
    # When 16 failed attempts for one user are counted at the same time
    errors = run_threads(
        THREADS,
        lambda _index: stores.service_state.add_login_failure("d", "carol", 7, expires_at=2_000_000_000),
    )
    # Then none is lost (an atomic increment, not read-modify-write)
    assert errors == []
    assert stores.service_state.login_failures("d", "carol", 7) == THREADS
