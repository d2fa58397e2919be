"""The KeyStore contract: every adapter (memory, SQLite, DynamoDB under moto) must pass all of it.

The rules come from the docstring of :mod:`skms.storage.port`. Adapter-specific checks
(SQLite files shared by instances and processes, DynamoDB access patterns) follow at the end.
"""

from __future__ import annotations

import math
import multiprocessing
import pathlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError

from skms.domain import KeyRecord, KeyState, Origin
from skms.errors import ConcurrentUpdate
from skms.storage.port import AliasExists, KeyExists, KeyStore, StorageFailure
from skms.storage.sqlite import SqliteKeyStore

RecordFactory = Callable[..., KeyRecord]  # the new_record fixture (conftest.py)
OTHER_PROJECT = "q" * 32


def walk(store: KeyStore, project_id: str, limit: int) -> list[list[KeyRecord]]:
    """All pages of a listing, following cursors to the end."""
    pages = []
    cursor: str | None = None
    while True:
        page = store.list_keys(project_id, limit, cursor)
        pages.append(page.records)
        if page.next_cursor is None:
            return pages
        assert len(pages) < 1000, "cursor never ends"
        cursor = page.next_cursor


def increment(store: KeyStore, project_id: str, key_id: str) -> int:
    """Read-modify-write of a counter kept in key_description, retried on ConcurrentUpdate."""
    retries = 0
    while True:
        current = store.get_key(project_id, key_id)
        assert current is not None
        try:
            store.update_key(
                current.replace(key_description=str(int(current.key_description) + 1)), current.revision
            )
            return retries
        except ConcurrentUpdate:
            retries += 1


# -- create / get ------------------------------------------------------------------------------


def _full_record(new_record: RecordFactory) -> KeyRecord:
    return new_record(
        key_alias="full/别名-✓",
        key_spec="RSA_2048",
        key_usage="SIGN_VERIFY",
        key_state=KeyState.PENDING_DELETION,
        origin=Origin.EXTERNAL,
        key_description="描述 with 'quotes' and \"double\" and \n newline",
        realm="cn-north-4",
        default_key_flag="1",
        key_type="2",
        enterprise_project_id="ep-1",
        keystore_id="ks-1",
        scheduled_deletion_date=1_800_000_000_000,
        expiration_time=None,
        key_rotation_enabled=True,
        current_version=3,
        materials={1: b"\x00" * 32, 2: bytes(range(256)), 10: b""},
        public_key_pem="-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
        revision=1,
    )


def _sparse_record(new_record: RecordFactory) -> KeyRecord:
    return new_record(
        key_description="",
        scheduled_deletion_date=None,
        expiration_time=1_900_000_000_000,
        public_key_pem=None,
        materials={},
        current_version=0,
        key_state=KeyState.PENDING_IMPORT,
    )


@pytest.mark.parametrize("build", [_full_record, _sparse_record], ids=["every-field-set", "empty-and-none"])
def test_create_then_get_round_trips_every_field(
    store: KeyStore, new_record: RecordFactory, build: Callable[[RecordFactory], KeyRecord]
) -> None:
    # Given a record with every field chosen to be distinguishable from its default
    record = build(new_record)
    # When it is created and read back by id and by alias
    store.create_key(record)
    by_id = store.get_key(record.project_id, record.key_id)
    by_alias = store.get_key_by_alias(record.project_id, record.key_alias)
    # Then both reads equal the original, field by field (materials bytes and None included)
    assert by_id == record
    assert by_alias == record
    assert by_id is not None
    assert type(by_id.key_state) is KeyState
    assert type(by_id.origin) is Origin


def test_get_of_unknown_key_or_alias_is_none(store: KeyStore, new_record: RecordFactory) -> None:
    # Given a store holding one key
    record = new_record()
    store.create_key(record)
    # When / Then unknown ids and aliases read as None
    assert store.get_key(record.project_id, "00000000-0000-0000-0000-000000000000") is None
    assert store.get_key_by_alias(record.project_id, "no-such-alias") is None


def test_stored_record_is_independent_of_callers_objects(store: KeyStore, new_record: RecordFactory) -> None:
    # Given a created record
    record = new_record(materials={1: b"original"})
    store.create_key(record)
    # When the caller mutates the materials dict of its own and of a returned record
    record.materials[1] = b"changed-by-caller"
    fetched = store.get_key(record.project_id, record.key_id)
    assert fetched is not None
    fetched.materials[2] = b"added-by-caller"
    # Then the stored record is unaffected
    again = store.get_key(record.project_id, record.key_id)
    assert again is not None
    assert again.materials == {1: b"original"}


def test_duplicate_key_id_raises_key_exists_and_changes_nothing(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a stored key
    first = new_record()
    store.create_key(first)
    # When a second record with the same id (and a different alias) is created
    second = first.replace(key_alias="another-alias", key_description="second")
    with pytest.raises(KeyExists):
        store.create_key(second)
    # Then the first key is intact, the second alias is not reserved and nothing was counted
    assert store.get_key(first.project_id, first.key_id) == first
    assert store.get_key_by_alias(first.project_id, "another-alias") is None
    assert store.count_keys(first.project_id) == 1


def test_duplicate_alias_in_project_raises_alias_exists_and_stores_nothing(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a stored key
    first = new_record()
    store.create_key(first)
    # When another key of the same project is created with the same alias
    second = new_record(key_alias=first.key_alias)
    with pytest.raises(AliasExists):
        store.create_key(second)
    # Then nothing of the second key is stored
    assert store.get_key(second.project_id, second.key_id) is None
    assert store.get_key_by_alias(first.project_id, first.key_alias) == first
    assert store.count_keys(first.project_id) == 1
    assert [r.key_id for r in store.list_keys(first.project_id, 10).records] == [first.key_id]


def test_same_alias_in_two_projects_is_allowed(store: KeyStore, new_record: RecordFactory) -> None:
    # Given a key with an alias in one project
    mine = new_record(key_alias="shared")
    store.create_key(mine)
    # When another project creates a key with the same alias
    theirs = new_record(project_id=OTHER_PROJECT, key_alias="shared")
    store.create_key(theirs)
    # Then each project resolves the alias to its own key
    assert store.get_key_by_alias(mine.project_id, "shared") == mine
    assert store.get_key_by_alias(OTHER_PROJECT, "shared") == theirs


def test_keys_are_invisible_across_projects(store: KeyStore, new_record: RecordFactory) -> None:
    # Given a key of one project
    record = new_record()
    store.create_key(record)
    # When another project looks for it by id, alias, listing or count
    # Then it sees nothing
    assert store.get_key(OTHER_PROJECT, record.key_id) is None
    assert store.get_key_by_alias(OTHER_PROJECT, record.key_alias) is None
    assert store.list_keys(OTHER_PROJECT, 10).records == []
    assert store.count_keys(OTHER_PROJECT) == 0
    # And cannot update it either
    with pytest.raises(ConcurrentUpdate):
        store.update_key(record.replace(project_id=OTHER_PROJECT, key_description="x"), record.revision)
    assert store.get_key(record.project_id, record.key_id) == record
    assert store.get_key(OTHER_PROJECT, record.key_id) is None


# -- update ------------------------------------------------------------------------------------


def test_update_with_current_revision_bumps_revision_and_persists(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a stored key at revision 1
    record = new_record()
    store.create_key(record)
    # When it is updated twice, each time with the revision just read
    first = store.update_key(record.replace(key_state=KeyState.DISABLED, materials={1: b"a", 2: b"b"}), 1)
    second = store.update_key(first.replace(key_description="now described"), first.revision)
    # Then each update bumps the revision by one and the store returns what it now holds
    assert first.revision == 2
    assert second.revision == 3
    assert second == record.replace(
        key_state=KeyState.DISABLED, materials={1: b"a", 2: b"b"}, key_description="now described", revision=3
    )
    assert store.get_key(record.project_id, record.key_id) == second


def test_update_ignores_the_revision_field_of_the_record(store: KeyStore, new_record: RecordFactory) -> None:
    # Given a stored key at revision 1
    record = new_record()
    store.create_key(record)
    # When the record passed in carries a bogus revision
    stored = store.update_key(record.replace(revision=99), expected_revision=1)
    # Then the stored revision is expected_revision + 1
    assert stored.revision == 2
    fetched = store.get_key(record.project_id, record.key_id)
    assert fetched is not None
    assert fetched.revision == 2


def test_update_with_stale_revision_raises_and_changes_nothing(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a key updated once (revision 2)
    record = new_record()
    store.create_key(record)
    current = store.update_key(record.replace(key_description="winner"), 1)
    # When a writer that read revision 1 tries to update
    with pytest.raises(ConcurrentUpdate):
        store.update_key(record.replace(key_description="loser", key_alias="loser-alias"), 1)
    # Then the store still holds the winner's record and the loser's alias is not reserved
    assert store.get_key(record.project_id, record.key_id) == current
    assert store.get_key_by_alias(record.project_id, "loser-alias") is None
    assert store.get_key_by_alias(record.project_id, record.key_alias) == current


def test_update_of_missing_key_raises_and_creates_nothing(store: KeyStore, new_record: RecordFactory) -> None:
    # Given an empty store
    record = new_record()
    # When a record that was never created is updated
    with pytest.raises(ConcurrentUpdate):
        store.update_key(record, 1)
    # Then it was not created by the update
    assert store.get_key(record.project_id, record.key_id) is None
    assert store.count_keys(record.project_id) == 0


def test_interleaved_read_modify_write_loses_no_update(store: KeyStore, new_record: RecordFactory) -> None:
    # Given two writers that both read the key at revision 1
    record = new_record(key_description="0")
    store.create_key(record)
    seen_by_a = store.get_key(record.project_id, record.key_id)
    seen_by_b = store.get_key(record.project_id, record.key_id)
    assert seen_by_a is not None
    assert seen_by_b is not None
    # When A writes first, then B writes from its stale read
    store.update_key(seen_by_a.replace(key_state=KeyState.DISABLED), seen_by_a.revision)
    with pytest.raises(ConcurrentUpdate):
        store.update_key(seen_by_b.replace(key_description="1"), seen_by_b.revision)
    # And B retries from a fresh read
    fresh = store.get_key(record.project_id, record.key_id)
    assert fresh is not None
    store.update_key(fresh.replace(key_description="1"), fresh.revision)
    # Then both changes are kept
    final = store.get_key(record.project_id, record.key_id)
    assert final is not None
    assert (final.key_state, final.key_description, final.revision) == (KeyState.DISABLED, "1", 3)


# -- alias rename ------------------------------------------------------------------------------


def test_alias_rename_moves_the_reservation(store: KeyStore, new_record: RecordFactory) -> None:
    # Given a key with alias "old"
    record = new_record(key_alias="old")
    store.create_key(record)
    # When it is renamed to "new"
    renamed = store.update_key(record.replace(key_alias="new"), record.revision)
    # Then "new" resolves to it, "old" resolves to nothing and is free for another key
    assert renamed.revision == 2
    assert store.get_key_by_alias(record.project_id, "new") == renamed
    assert store.get_key_by_alias(record.project_id, "old") is None
    newcomer = new_record(key_alias="old")
    store.create_key(newcomer)
    assert store.get_key_by_alias(record.project_id, "old") == newcomer
    # And a second key cannot take "new"
    with pytest.raises(AliasExists):
        store.create_key(new_record(key_alias="new"))
    assert store.count_keys(record.project_id) == 2


def test_alias_rename_then_plain_update_keeps_the_reservation(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a key renamed from "old" to "new"
    record = new_record(key_alias="old")
    store.create_key(record)
    renamed = store.update_key(record.replace(key_alias="new"), 1)
    # When it is updated without touching the alias, then renamed back
    described = store.update_key(renamed.replace(key_description="d"), renamed.revision)
    back = store.update_key(described.replace(key_alias="old"), described.revision)
    # Then the alias reservations follow each write
    assert store.get_key_by_alias(record.project_id, "old") == back
    assert store.get_key_by_alias(record.project_id, "new") is None
    assert back.revision == 4


def test_rename_onto_a_taken_alias_raises_and_changes_nothing(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given two keys with aliases "a" and "b"
    key_a = new_record(key_alias="a")
    key_b = new_record(key_alias="b")
    store.create_key(key_a)
    store.create_key(key_b)
    # When key a is renamed to "b"
    with pytest.raises(AliasExists):
        store.update_key(key_a.replace(key_alias="b", key_description="changed"), key_a.revision)
    # Then both keys and both reservations are as before
    assert store.get_key(key_a.project_id, key_a.key_id) == key_a
    assert store.get_key(key_b.project_id, key_b.key_id) == key_b
    assert store.get_key_by_alias(key_a.project_id, "a") == key_a
    assert store.get_key_by_alias(key_a.project_id, "b") == key_b


def test_rename_in_one_project_does_not_touch_the_same_alias_elsewhere(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given the alias "x" in two projects
    mine = new_record(key_alias="x")
    theirs = new_record(project_id=OTHER_PROJECT, key_alias="x")
    store.create_key(mine)
    store.create_key(theirs)
    # When one project renames its key away from "x"
    store.update_key(mine.replace(key_alias="y"), mine.revision)
    # Then the other project's "x" still resolves
    assert store.get_key_by_alias(OTHER_PROJECT, "x") == theirs
    assert store.get_key_by_alias(mine.project_id, "x") is None


# -- list / count ------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 10])
def test_list_pages_walk_every_key_once_in_creation_order(
    store: KeyStore, new_record: RecordFactory, limit: int
) -> None:
    # Given 7 keys of a project, created interleaved with keys of another project
    mine = []
    for _ in range(7):
        record = new_record()
        store.create_key(record)
        store.create_key(new_record(project_id=OTHER_PROJECT))
        mine.append(record)
    # When the project's keys are listed page by page
    pages = walk(store, mine[0].project_id, limit)
    # Then the pages hold every key exactly once, in creation order, full pages but the last
    assert [r for page in pages for r in page] == mine
    assert len(pages) == math.ceil(7 / limit)
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit


@pytest.mark.parametrize("limit", [1, 3])
def test_last_page_has_no_cursor_when_count_is_a_multiple_of_limit(
    store: KeyStore, new_record: RecordFactory, limit: int
) -> None:
    # Given 3 keys
    records = [new_record() for _ in range(3)]
    for record in records:
        store.create_key(record)
    # When they are listed with a limit dividing 3
    pages = walk(store, records[0].project_id, limit)
    # Then there is no trailing empty page
    assert [len(page) for page in pages] == [limit] * (3 // limit)


def test_list_of_empty_project_is_one_empty_page(store: KeyStore) -> None:
    # Given / When an empty project is listed
    page = store.list_keys("e" * 32, 5)
    # Then there is one empty page and no cursor
    assert page.records == []
    assert page.next_cursor is None


def test_keys_created_or_updated_while_paging_keep_pages_stable(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given 4 keys and the first page of 2 already read
    first_four = [new_record() for _ in range(4)]
    for record in first_four:
        store.create_key(record)
    project_id = first_four[0].project_id
    page1 = store.list_keys(project_id, 2)
    assert page1.records == first_four[:2]
    assert page1.next_cursor is not None
    # When 2 more keys are created and an already listed key is updated
    later = [new_record() for _ in range(2)]
    for record in later:
        store.create_key(record)
    store.update_key(first_four[0].replace(key_description="touched"), first_four[0].revision)
    # Then paging on yields the rest, then the new keys after them, nothing twice
    rest = []
    cursor: str | None = page1.next_cursor
    while cursor is not None:
        page = store.list_keys(project_id, 2, cursor)
        rest.extend(page.records)
        cursor = page.next_cursor
    assert [r.key_id for r in rest] == [r.key_id for r in first_four[2:] + later]


def test_list_rejects_a_malformed_cursor(store: KeyStore, new_record: RecordFactory) -> None:
    # Given a project with keys
    record = new_record()
    store.create_key(record)
    # When / Then a cursor the store never issued is refused
    with pytest.raises(ValueError):
        store.list_keys(record.project_id, 2, "not a cursor!")


def test_count_keys_counts_successful_creates_only(store: KeyStore, new_record: RecordFactory) -> None:
    # Given an empty project
    first = new_record()
    assert store.count_keys(first.project_id) == 0
    # When keys are created, creates fail, keys are updated, and another project gets a key
    store.create_key(first)
    store.create_key(new_record())
    with pytest.raises(AliasExists):
        store.create_key(new_record(key_alias=first.key_alias))
    with pytest.raises(KeyExists):
        store.create_key(first.replace(key_alias="other"))
    store.update_key(first.replace(key_alias="renamed"), first.revision)
    store.create_key(new_record(project_id=OTHER_PROJECT))
    # Then only the project's successful creates are counted
    assert store.count_keys(first.project_id) == 2
    assert store.count_keys(OTHER_PROJECT) == 1


# -- concurrency -------------------------------------------------------------------------------

THREADS = 16
INCREMENTS_PER_THREAD = 5


def _run_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as error:  # collected and reported by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_concurrent_read_modify_write_loses_no_increment(
    threaded_store: KeyStore, new_record: RecordFactory
) -> None:
    store = threaded_store
    # Given one key holding a counter of 0
    record = new_record(key_description="0")
    store.create_key(record)

    def work(_: int) -> None:
        for _ in range(INCREMENTS_PER_THREAD):
            increment(store, record.project_id, record.key_id)

    # When 16 threads each increment it 5 times with read-modify-write and retry
    errors = _run_threads(THREADS, work)
    # Then every increment is kept and the revision counts every write
    assert errors == []
    final = store.get_key(record.project_id, record.key_id)
    assert final is not None
    assert int(final.key_description) == THREADS * INCREMENTS_PER_THREAD
    assert final.revision == 1 + THREADS * INCREMENTS_PER_THREAD


def test_concurrent_creates_with_one_alias_have_one_winner(
    threaded_store: KeyStore, new_record: RecordFactory
) -> None:
    store = threaded_store
    # Given 16 different keys wanting the same alias
    contenders = [new_record(key_alias="contested") for _ in range(THREADS)]
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(index: int) -> None:
        try:
            store.create_key(contenders[index])
            outcome = "created"
        except AliasExists:
            outcome = "alias-exists"
        with lock:
            outcomes.append(outcome)

    # When they are created at the same time
    errors = _run_threads(THREADS, create)
    # Then exactly one wins and only the winner is stored
    assert errors == []
    assert sorted(outcomes) == ["alias-exists"] * (THREADS - 1) + ["created"]
    project_id = contenders[0].project_id
    winner = store.get_key_by_alias(project_id, "contested")
    assert winner in contenders
    assert store.count_keys(project_id) == 1
    assert store.list_keys(project_id, 100).records == [winner]


# -- SQLite only -------------------------------------------------------------------------------


def test_sqlite_instances_on_one_file_share_state_and_survive_restart(
    tmp_path: pathlib.Path, new_record: RecordFactory
) -> None:
    # Given two stores opened on the same file (two "processes")
    path = tmp_path / "shared.sqlite3"
    one, two = SqliteKeyStore(path), SqliteKeyStore(path)
    # When each writes
    first, second = new_record(), new_record()
    one.create_key(first)
    two.create_key(second)
    updated = two.update_key(first.replace(key_description="by two"), first.revision)
    # Then each sees the other's writes, and alias uniqueness holds across them
    assert one.get_key(first.project_id, first.key_id) == updated
    assert one.get_key(second.project_id, second.key_id) == second
    with pytest.raises(AliasExists):
        one.create_key(new_record(key_alias=second.key_alias))
    one.close()
    two.close()
    # And after a "restart" everything is still there, in a sound WAL file
    reopened = SqliteKeyStore(path)
    assert reopened.list_keys(first.project_id, 10).records == [updated, second]
    assert reopened.integrity_check() is True
    reopened.close()
    journal_mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal_mode == "wal"


def test_sqlite_store_is_usable_after_close(tmp_path: pathlib.Path, new_record: RecordFactory) -> None:
    # Given a store that was closed
    store = SqliteKeyStore(tmp_path / "k.sqlite3")
    record = new_record()
    store.create_key(record)
    store.close()
    # When it is used again, Then it reconnects
    assert store.get_key(record.project_id, record.key_id) == record
    store.close()


def _increment_in_process(path: str, project_id: str, key_id: str, times: int) -> None:
    store = SqliteKeyStore(pathlib.Path(path))
    for _ in range(times):
        increment(store, project_id, key_id)
    store.close()


def test_sqlite_concurrent_processes_lose_no_increment(
    tmp_path: pathlib.Path, new_record: RecordFactory
) -> None:
    # Given a key holding a counter of 0 in a file
    path = tmp_path / "multi.sqlite3"
    store = SqliteKeyStore(path)
    record = new_record(key_description="0")
    store.create_key(record)
    # When 4 processes increment it 10 times each
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_increment_in_process, args=(str(path), record.project_id, record.key_id, 10))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    # Then every increment of every process is kept
    assert [process.exitcode for process in processes] == [0] * 4
    final = store.get_key(record.project_id, record.key_id)
    assert final is not None
    assert (int(final.key_description), final.revision) == (40, 41)
    assert store.integrity_check() is True
    store.close()


def test_sqlite_driver_errors_become_storage_failure(tmp_path: pathlib.Path) -> None:
    # Given a path the driver cannot open (its directory does not exist)
    # When a store is opened there, Then a StorageFailure chained to the sqlite3 error is raised
    with pytest.raises(StorageFailure) as caught:
        SqliteKeyStore(tmp_path / "missing-dir" / "k.sqlite3")
    assert isinstance(caught.value.__cause__, sqlite3.Error)


# -- DynamoDB only -----------------------------------------------------------------------------


@pytest.fixture
def dynamo_store(dynamo_table: str) -> KeyStore:
    from skms.storage.dynamodb import DynamoKeyStore

    return DynamoKeyStore(dynamo_table, client=boto3.client("dynamodb"))


def test_dynamodb_client_is_created_lazily_and_once(
    dynamo_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skms.storage.dynamodb import DynamoKeyStore

    # Given boto3 counting the clients it makes
    made: list[str] = []
    real_client = boto3.client

    def counting_client(service: str, **kwargs: Any) -> Any:
        made.append(service)
        return real_client(service, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("boto3.client", counting_client)
    # When a store is constructed, Then no client is made yet
    store = DynamoKeyStore(dynamo_table)
    assert made == []
    # When it is used twice, Then exactly one client was made, on first use
    assert store.get_key("p", "k") is None
    assert store.count_keys("p") == 0
    assert made == ["dynamodb"]


def test_dynamodb_listing_and_counting_never_scan(dynamo_store: KeyStore, new_record: RecordFactory) -> None:
    from skms.storage.dynamodb import DynamoKeyStore

    # Given 5 keys and a recorder of every DynamoDB operation the adapter calls
    records = [new_record() for _ in range(5)]
    for record in records:
        dynamo_store.create_key(record)
    calls: list[str] = []
    client = cast(DynamoKeyStore, dynamo_store)._client()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    # When the keys are listed in pages and counted
    assert [r for page in walk(dynamo_store, records[0].project_id, 2) for r in page] == records
    assert dynamo_store.count_keys(records[0].project_id) == 5
    # Then only Query (on the index) and GetItem were used
    assert set(calls) == {"Query", "GetItem"}
    assert calls.count("GetItem") == 1


def test_dynamodb_cursor_of_another_project_is_refused(
    dynamo_store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a cursor issued for one project
    for _ in range(3):
        dynamo_store.create_key(new_record())
    cursor = dynamo_store.list_keys("p" * 32, 1).next_cursor
    assert cursor is not None
    # When / Then it is refused for another project
    with pytest.raises(ValueError):
        dynamo_store.list_keys(OTHER_PROJECT, 1, cursor)


def test_dynamodb_table_matches_the_template(dynamo_table: str) -> None:
    # Given the table built from template.yaml, Then it has the keys and index the adapter uses
    table = boto3.client("dynamodb").describe_table(TableName=dynamo_table)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["PK", "SK"]
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "GSI1"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["GSI1PK", "GSI1SK"]


def test_dynamodb_missing_table_is_a_storage_failure(aws_env: None, new_record: RecordFactory) -> None:
    from skms.storage.dynamodb import DynamoKeyStore

    # Given a store on a table that does not exist
    store = DynamoKeyStore("no-such-table")
    # When it is used, Then every call fails with StorageFailure chained to the ClientError
    for call in (
        lambda: store.get_key("p", "k"),
        lambda: store.create_key(new_record()),
        lambda: store.list_keys("p", 1),
    ):
        with pytest.raises(StorageFailure) as caught:
            call()
        assert isinstance(caught.value.__cause__, ClientError)


class _ConflictOnce:
    """A client whose first transaction is cancelled by a TransactionConflict."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.transactions = 0

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        if self.transactions == 1:
            reasons = [{"Code": "None"}, {"Code": "TransactionConflict"}, {"Code": "None"}]
            raise ClientError(
                cast(
                    Any,
                    {
                        "Error": {"Code": "TransactionCanceledException", "Message": ""},
                        "CancellationReasons": reasons,
                    },
                ),
                "TransactWriteItems",
            )
        return self.real.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_dynamodb_retries_a_transaction_conflict(dynamo_table: str, new_record: RecordFactory) -> None:
    from skms.storage.dynamodb import DynamoKeyStore

    # Given a store whose first transaction meets a conflicting transaction
    client = _ConflictOnce(boto3.client("dynamodb"))
    store = DynamoKeyStore(dynamo_table, client=cast(Any, client))
    # When a key is created
    record = new_record()
    store.create_key(record)
    # Then the create is retried and succeeds once
    assert client.transactions == 2
    assert store.get_key(record.project_id, record.key_id) == record
    assert store.count_keys(record.project_id) == 1
