"""The KeyStore contract: every adapter (memory, SQLite, DynamoDB under moto) must pass all of it.

The rules come from the docstring of :mod:`skms.storage.port`. Adapter-specific checks
(SQLite files shared by instances and processes, DynamoDB access patterns) follow at the end.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import multiprocessing
import pathlib
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError

from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.domain import KeyRecord, KeyState, KeyVersion, KeyVersions, Origin, VersionState
from skms.errors import ConcurrentUpdate
from skms.storage import codec, cursors
from skms.storage.port import AliasExists, KeyExists, KeyFilter, KeyStore, QuotaExceeded, StorageFailure
from skms.storage.sqlite import SqliteKeyStore, open_database
from tests.contract.conftest import TABLE_NAME, run_threads

RecordFactory = Callable[..., KeyRecord]  # the new_record fixture (conftest.py)


class SqliteKeyFile(SqliteKeyStore):
    """The key store of a SQLite file of its own, closable and checkable (the file-level tests)."""

    def __init__(self, path: pathlib.Path) -> None:
        self.database = open_database(path)
        super().__init__(self.database)

    def close(self) -> None:
        self.database.close()

    def integrity_check(self) -> bool:
        return self.database.integrity_check()

    def _conn(self) -> sqlite3.Connection:
        return self.database.connection()


OTHER_PROJECT = "q" * 32
DELETED_AT = 1_800_000_000_000
NOW = 1_750_000_000_000  # the sweep's clock in the due_for_deletion tests
Group = tuple[str, str, str]  # (key_spec, key_state, enterprise_project_id)


def walk(
    store: KeyStore,
    project_id: str,
    limit: int,
    filters: KeyFilter | None = None,
    cursor: str | None = None,
) -> list[list[KeyRecord]]:
    """All pages of a listing from ``cursor``, following cursors to the end."""
    pages = []
    while True:
        page = store.list_keys(project_id, limit, cursor, filters=filters)
        pages.append(page.records)
        if page.next_cursor is None:
            return pages
        assert len(pages) < 1000, "cursor never ends"
        cursor = page.next_cursor


def listed(
    store: KeyStore, project_id: str, limit: int = 2, filters: KeyFilter | None = None
) -> list[KeyRecord]:
    """Every record of a listing, all pages joined."""
    return [record for page in walk(store, project_id, limit, filters) for record in page]


def tombstone(store: KeyStore, record: KeyRecord, deleted_at: int = DELETED_AT) -> KeyRecord:
    """What the scheduled deletion does to a key read at ``record.revision``."""
    return store.update_key(
        record.replace(deleted_at=deleted_at, versions=record.versions.erased()), record.revision
    )


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


def change(store: KeyStore, record: KeyRecord, **changes: Any) -> KeyRecord:
    """Update a key read at ``record.revision`` with ``changes``."""
    return store.update_key(record.replace(**changes), record.revision)


def _group(record: KeyRecord) -> Group:
    return (record.key_spec, record.key_state.value, record.enterprise_project_id)


# No filter, each value of each dimension alone, and each (state, enterprise project) pair (the
# dimensions that change; the spec never does): a count of each checks every group counter.
_COUNT_FILTERS = [
    KeyFilter(),
    *(KeyFilter(key_spec=spec) for spec in ("AES_256", "RSA_2048")),
    *(KeyFilter(key_state=state) for state in ("2", "3", "4")),
    *(KeyFilter(enterprise_project_id=enterprise_project) for enterprise_project in ("0", "ep-1", "ep-2")),
    *(
        KeyFilter(key_state=state, enterprise_project_id=enterprise_project)
        for state, enterprise_project in itertools.product(("2", "3", "4"), ("0", "ep-1", "ep-2"))
    ),
]


def check_counts(store: KeyStore, project_id: str, live: Iterable[KeyRecord]) -> None:
    """Every filtered count of the project equals the number of ``live`` records it matches."""
    records = list(live)
    for filters in _COUNT_FILTERS:
        assert store.count_keys(project_id, filters=filters) == sum(map(filters.matches, records)), filters


def pending(new_record: RecordFactory, date: int, **changes: Any) -> KeyRecord:
    """A new record pending deletion on ``date``."""
    return new_record(key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=date, **changes)


# -- create / get ------------------------------------------------------------------------------


def _full_record(new_record: RecordFactory) -> KeyRecord:
    return new_record(
        key_alias="full/别名-✓",
        key_spec=KeySpec.RSA_2048,
        key_usage=KeyUsage.SIGN_VERIFY,
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
        versions=KeyVersions(
            10,
            (
                KeyVersion(1, 1_700_000_000_001, VersionState.ENABLED, b"\x00" * 32),
                KeyVersion(2, 1_700_000_000_002, VersionState.ENABLED, bytes(range(256))),
                KeyVersion(3, 1_700_000_000_003, VersionState.DESTROYED),
                KeyVersion(10, 1_700_000_000_010, VersionState.ENABLED, b"\x01"),
            ),
        ),
        public_key_pem="-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
        material_fingerprint="AQIDBAUGBwg=",
        revision=1,
    )


def _sparse_record(new_record: RecordFactory) -> KeyRecord:
    return new_record(
        key_description="",
        scheduled_deletion_date=None,
        expiration_time=1_900_000_000_000,
        public_key_pem=None,
        versions=KeyVersions(),
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
    record = new_record(versions=KeyVersions.of_materials({1: b"original"}, primary=1))
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
    first = store.update_key(
        record.replace(key_state=KeyState.DISABLED, versions=KeyVersions.of_materials({1: b"a", 2: b"b"}, 2)),
        1,
    )
    second = store.update_key(first.replace(key_description="now described"), first.revision)
    # Then each update bumps the revision by one and the store returns what it now holds
    assert first.revision == 2
    assert second.revision == 3
    assert second == record.replace(
        key_state=KeyState.DISABLED,
        versions=KeyVersions.of_materials({1: b"a", 2: b"b"}, 2),
        key_description="now described",
        revision=3,
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


def test_a_cursor_of_another_project_is_refused(store: KeyStore, new_record: RecordFactory) -> None:
    # Given two projects with keys, and a cursor issued by a listing of the first
    for project_id in ("p" * 32, OTHER_PROJECT):
        for _ in range(3):
            store.create_key(new_record(project_id=project_id))
    cursor = store.list_keys("p" * 32, 1).next_cursor
    assert cursor is not None
    # When / Then the other project's listing refuses it, with and without filters
    with pytest.raises(ValueError):
        store.list_keys(OTHER_PROJECT, 1, cursor)
    with pytest.raises(ValueError):
        store.list_keys(OTHER_PROJECT, 1, cursor, filters=KeyFilter(key_spec="AES_256"))
    # And the project it was issued for still accepts it
    assert len(store.list_keys("p" * 32, 5, cursor).records) == 2


def test_a_cursor_names_its_page_and_project_only(store: KeyStore, new_record: RecordFactory) -> None:
    """A marker tells its holder nothing they were not shown: it is the position of the page's last
    key (its creation date and id, both in the page) bound to the project, so it is the same
    whatever other projects did (no store-wide sequence, no count of anyone's keys)."""
    # Given many keys of another project, created before and between this project's keys
    for _ in range(5):
        store.create_key(new_record(project_id=OTHER_PROJECT))
    first = new_record()
    store.create_key(first)
    for _ in range(5):
        store.create_key(new_record(project_id=OTHER_PROJECT))
    store.create_key(new_record())
    # When the project's first page of one key is read
    page = store.list_keys(first.project_id, 1)
    # Then its marker is the project-bound position of that key and nothing else
    assert page.records == [first]
    assert page.next_cursor == cursors.key_cursor(first.project_id, first.creation_date, first.key_id)
    assert cursors.key_position(first.project_id, page.next_cursor) == (first.creation_date, first.key_id)


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


# -- filters and tombstones --------------------------------------------------------------------

# (key_spec, key_state, enterprise_project_id, becomes a tombstone), in creation order. The
# tombstones (3 and 6) match some filters by their fields: they must be left out all the same.
_POPULATION = (
    ("AES_256", KeyState.ENABLED, "0", False),  # 0
    ("RSA_2048", KeyState.ENABLED, "ep-1", False),  # 1
    ("AES_256", KeyState.DISABLED, "ep-1", False),  # 2
    ("RSA_2048", KeyState.DISABLED, "0", True),  # 3
    ("SM4", KeyState.ENABLED, "0", False),  # 4
    ("AES_256", KeyState.ENABLED, "ep-1", False),  # 5
    ("RSA_2048", KeyState.ENABLED, "ep-1", True),  # 6
    ("RSA_2048", KeyState.PENDING_DELETION, "0", False),  # 7
    ("AES_256", KeyState.ENABLED, "0", False),  # 8
    ("RSA_2048", KeyState.ENABLED, "ep-1", False),  # 9
)
_LIVE = [0, 1, 2, 4, 5, 7, 8, 9]

# (case, filters, indexes of the _POPULATION keys expected)
_FILTER_CASES: list[tuple[str, KeyFilter | None, list[int]]] = [
    ("no-filters", None, _LIVE),
    ("all-none", KeyFilter(), _LIVE),
    ("spec", KeyFilter(key_spec="RSA_2048"), [1, 7, 9]),
    ("state", KeyFilter(key_state="2"), [0, 1, 4, 5, 8, 9]),
    ("state-disabled", KeyFilter(key_state="3"), [2]),
    ("state-pending-deletion", KeyFilter(key_state="4"), [7]),
    ("enterprise-project", KeyFilter(enterprise_project_id="ep-1"), [1, 2, 5, 9]),
    ("spec-state", KeyFilter(key_spec="AES_256", key_state="2"), [0, 5, 8]),
    ("spec-ep", KeyFilter(key_spec="RSA_2048", enterprise_project_id="ep-1"), [1, 9]),
    ("state-ep", KeyFilter(key_state="2", enterprise_project_id="0"), [0, 4, 8]),
    ("spec-state-ep", KeyFilter(key_spec="RSA_2048", key_state="2", enterprise_project_id="ep-1"), [1, 9]),
    ("no-match", KeyFilter(key_spec="EC_P256"), []),
]


def _populate(store: KeyStore, new_record: RecordFactory) -> list[KeyRecord]:
    """Create the _POPULATION keys (and after each, a twin in another project), then make the
    tombstones; return the stored records, indexed like _POPULATION."""
    stored = []
    for spec, state, enterprise_project, _ in _POPULATION:
        fields: dict[str, Any] = {
            "key_spec": spec,
            "key_state": state,
            "enterprise_project_id": enterprise_project,
        }
        record = new_record(**fields)
        store.create_key(record)
        store.create_key(new_record(project_id=OTHER_PROJECT, **fields))
        stored.append(record)
    for index, (*_, becomes_tombstone) in enumerate(_POPULATION):
        if becomes_tombstone:
            stored[index] = tombstone(store, stored[index])
    return stored


def test_filtered_pages_walk_exactly_the_matching_live_keys(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given keys of mixed spec, state and enterprise project, two of them tombstones, and their
    # twins in another project
    stored = _populate(store, new_record)
    project_id = stored[0].project_id
    for case, filters, expected in _FILTER_CASES:
        want = [stored[index] for index in expected]
        for limit in (1, 2, 3):
            # When the project's keys are listed with the filters, page by page
            pages = walk(store, project_id, limit, filters)
            # Then the pages hold exactly the matching live keys, in creation order, each once,
            # in full pages but the last, with no trailing empty page (one empty page if none)
            assert [r for page in pages for r in page] == want, (case, limit)
            full, rest = divmod(len(want), limit)
            sizes = [limit] * full + ([rest] if rest or not full else [])
            assert [len(page) for page in pages] == sizes, (case, limit)
        # And counting with the same filters agrees
        assert store.count_keys(project_id, filters=filters) == len(want), case


def test_filtered_paging_is_stable_while_keys_are_created_and_deleted(
    store: KeyStore, new_record: RecordFactory
) -> None:
    rsa = KeyFilter(key_spec="RSA_2048")
    # Given 4 RSA keys among AES keys, and the first filtered page of 2 already read
    first: list[KeyRecord] = []
    for _ in range(4):
        store.create_key(new_record())
        first.append(new_record(key_spec="RSA_2048"))
        store.create_key(first[-1])
    project_id = first[0].project_id
    page1 = store.list_keys(project_id, 2, filters=rsa)
    assert page1.records == first[:2]
    assert page1.next_cursor is not None
    # When more RSA and AES keys are created, and both the key the cursor points after and a key
    # not yet listed become tombstones
    later: list[KeyRecord] = []
    for _ in range(2):
        later.append(new_record(key_spec="RSA_2048"))
        store.create_key(later[-1])
        store.create_key(new_record())
    tombstone(store, first[1])
    tombstone(store, first[2])
    # Then paging on yields the remaining live match, then the new ones after it, nothing twice
    for limit in (1, 2, 3):
        rest = [r for page in walk(store, project_id, limit, rsa, page1.next_cursor) for r in page]
        assert [r.key_id for r in rest] == [r.key_id for r in [first[3], *later]], f"limit {limit}"


def test_filtered_listing_rejects_a_malformed_cursor_and_a_limit_below_one(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a project with keys
    record = new_record()
    store.create_key(record)
    rsa = KeyFilter(key_spec="AES_256")
    # When / Then a cursor the store never issued, or a limit of 0, is refused with filters too
    with pytest.raises(ValueError):
        store.list_keys(record.project_id, 2, "not a cursor!", filters=rsa)
    with pytest.raises(ValueError):
        store.list_keys(record.project_id, 0, filters=rsa)


def test_a_tombstone_is_neither_listed_nor_counted_but_keeps_its_id_and_alias(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given 3 keys
    records = [new_record(key_spec="RSA_2048") for _ in range(3)]
    for record in records:
        store.create_key(record)
    project_id = records[0].project_id
    rsa = KeyFilter(key_spec="RSA_2048")
    assert store.count_keys(project_id) == 3
    # When the middle one becomes a tombstone
    dead = tombstone(store, records[1])
    # Then it is left out of listings and counts, with and without filters: one key fewer
    assert listed(store, project_id, 1) == [records[0], records[2]]
    assert listed(store, project_id, 1, rsa) == [records[0], records[2]]
    assert store.count_keys(project_id) == 2
    assert store.count_keys(project_id, filters=rsa) == 2
    # And it is still read by id and by alias, as stored
    assert dead.deleted_at == DELETED_AT
    assert store.get_key(project_id, dead.key_id) == dead
    assert store.get_key_by_alias(project_id, dead.key_alias) == dead
    # And neither its id nor its alias can be taken again
    with pytest.raises(KeyExists):
        store.create_key(records[1].replace(key_alias="a-fresh-alias"))
    with pytest.raises(AliasExists):
        store.create_key(new_record(key_alias=dead.key_alias))
    # And another update of the tombstone counts nothing again
    again = store.update_key(dead.replace(key_description="purged"), dead.revision)
    assert store.get_key(project_id, dead.key_id) == again
    assert store.count_keys(project_id) == 2
    assert listed(store, project_id) == [records[0], records[2]]


def test_count_follows_the_live_keys_through_every_kind_of_update(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given 3 keys
    a, b, c = (new_record() for _ in range(3))
    for record in (a, b, c):
        store.create_key(record)
    project_id = a.project_id

    def check(live: list[KeyRecord]) -> None:
        assert [r.key_id for r in listed(store, project_id)] == [r.key_id for r in live]
        assert store.count_keys(project_id) == len(live)
        assert store.count_keys(project_id, filters=KeyFilter(key_spec="AES_256")) == len(live)

    # When keys are updated, renamed, deleted, renamed and deleted at once, a tombstone is
    # updated, and one comes back (nothing the service does, but the store must stay consistent)
    # Then after each step the count is the number of listed keys
    a = store.update_key(a.replace(key_description="x"), a.revision)
    a = store.update_key(a.replace(key_alias="renamed-a"), a.revision)
    check([a, b, c])
    b = tombstone(store, b)
    check([a, c])
    c = store.update_key(c.replace(key_alias="renamed-c", deleted_at=DELETED_AT), c.revision)
    check([a])
    assert store.get_key_by_alias(project_id, "renamed-c") == c
    b = store.update_key(b.replace(key_description="still dead"), b.revision)
    check([a])
    b = store.update_key(b.replace(deleted_at=None), b.revision)
    check([a, b])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("deletion", "deletion"),
        ("deletion", "update"),
        ("update", "deletion"),
        ("disable", "move"),
        ("move", "disable"),
        ("disable", "deletion"),
        ("deletion", "move"),
    ],
)
def test_of_two_updates_racing_from_one_read_only_the_first_counts(
    store: KeyStore, new_record: RecordFactory, first: str, second: str
) -> None:
    # Given two keys, and two writers that read the same revision of one of them
    keep, target = new_record(), new_record()
    store.create_key(keep)
    store.create_key(target)
    seen = store.get_key(target.project_id, target.key_id)
    assert seen is not None

    def write(kind: str, stamp: int) -> KeyRecord:
        if kind == "deletion":
            return tombstone(store, seen, DELETED_AT + stamp)
        if kind == "disable":  # another state: another counter group
            return change(store, seen, key_state=KeyState.DISABLED, key_description=f"update {stamp}")
        if kind == "move":  # another enterprise project: another counter group
            return change(store, seen, enterprise_project_id=f"ep-{stamp}")
        return change(store, seen, key_description=f"update {stamp}")

    # When both write, one after the other
    winner = write(first, 1)
    with pytest.raises(ConcurrentUpdate):
        write(second, 2)
    # Then only the first write is stored, and the count went down by one only if it deleted
    assert store.get_key(target.project_id, target.key_id) == winner
    live = [keep] if first == "deletion" else [keep, winner]
    assert listed(store, target.project_id) == live
    assert store.count_keys(target.project_id) == len(live)
    # And the filtered counts moved by the first write only
    check_counts(store, target.project_id, live)


def test_filtered_counts_follow_every_change_of_state_and_enterprise_project(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given keys of several specs, states and enterprise projects
    a, b, c, d = (
        new_record(),
        new_record(key_spec="RSA_2048"),
        new_record(enterprise_project_id="ep-1"),
        new_record(key_state=KeyState.DISABLED),
    )
    live = {record.key_id: record for record in (a, b, c, d)}
    for record in live.values():
        store.create_key(record)
    project_id = a.project_id
    check_counts(store, project_id, live.values())

    def step(record: KeyRecord) -> KeyRecord:
        if record.deleted_at is None:
            live[record.key_id] = record
        else:
            live.pop(record.key_id)
        check_counts(store, project_id, live.values())
        return record

    # When states and enterprise projects change, alone, together, with a rename, and through a
    # scheduled deletion that is cancelled, one that runs, and a key that comes back
    # Then after each step every filtered count equals the number of matching live keys
    a = step(change(store, a, key_state=KeyState.DISABLED))
    b = step(change(store, b, enterprise_project_id="ep-2"))
    c = step(change(store, c, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW))
    c = step(change(store, c, key_state=KeyState.DISABLED, scheduled_deletion_date=None))
    d = step(change(store, d, key_state=KeyState.ENABLED, enterprise_project_id="ep-1", key_alias="d2"))
    b = step(change(store, b, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW))
    b = step(tombstone(store, b))
    a = step(change(store, a, key_description="nothing moves"))
    b = step(change(store, b, key_state=KeyState.ENABLED, deleted_at=None))
    assert listed(store, project_id) == [a, b, c, d]


# -- due for deletion --------------------------------------------------------------------------


def test_due_for_deletion_is_the_live_keys_pending_deletion_up_to_now_oldest_first(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given keys pending deletion in two projects, due before or right at NOW, and keys that are
    # not: due later, deleted already, pending deletion with no date, or no longer pending
    # deletion but still holding a date; created in no particular order
    due = [
        pending(new_record, NOW - 3000, project_id=OTHER_PROJECT),
        pending(new_record, NOW - 2000),
        pending(new_record, NOW - 1000, project_id=OTHER_PROJECT),
        pending(new_record, NOW),
    ]
    later = pending(new_record, NOW + 1)
    dead = pending(new_record, NOW - 4000)
    others = [
        later,
        new_record(),
        dead,
        new_record(key_state=KeyState.PENDING_DELETION),
        new_record(key_state=KeyState.DISABLED, scheduled_deletion_date=NOW - 5000),
    ]
    for record in (others[0], due[2], others[1], due[3], others[2], due[1], others[3], others[4], due[0]):
        store.create_key(record)
    tombstone(store, dead)
    # When / Then the due keys come oldest first, at most limit of them
    assert store.due_for_deletion(NOW, 100) == due
    assert store.due_for_deletion(NOW, 2) == due[:2]
    assert store.due_for_deletion(NOW, 1) == due[:1]
    # And the date bound is inclusive
    assert store.due_for_deletion(NOW - 3001, 100) == []
    assert store.due_for_deletion(NOW - 3000, 100) == due[:1]
    assert store.due_for_deletion(NOW + 1, 100) == [*due, later]


def test_a_key_is_due_from_its_scheduling_until_its_deletion_runs_or_is_cancelled(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given three keys, none pending deletion
    first, second, third = (new_record() for _ in range(3))
    for record in (first, second, third):
        store.create_key(record)
    project_id = first.project_id
    assert store.due_for_deletion(NOW, 10) == []
    # When their deletion is scheduled, two of them due by NOW
    first = change(store, first, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW - 2000)
    second = change(store, second, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW - 1000)
    third = change(store, third, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW + 1000)
    # Then those two are due, and an update that keeps them pending keeps them due
    assert store.due_for_deletion(NOW, 10) == [first, second]
    second = change(store, second, key_description="still pending")
    assert store.due_for_deletion(NOW, 10) == [first, second]
    # When the first deletion is cancelled, Then that key is no longer due
    first = change(store, first, key_state=KeyState.DISABLED, scheduled_deletion_date=None)
    assert store.due_for_deletion(NOW, 10) == [second]
    # When the second deletion runs, Then that key is no longer due either
    second = tombstone(store, second)
    assert store.due_for_deletion(NOW, 10) == []
    # And the third is due once its date has come
    assert store.due_for_deletion(NOW + 1000, 10) == [third]
    assert store.count_keys(project_id) == 2
    assert store.count_keys(project_id, filters=KeyFilter(key_state="4")) == 1


def test_imported_material_is_due_at_its_expiry_until_it_is_erased(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given external keys holding imported material: one expiring before NOW, one after, one that
    # never expires, and a key made by KMS that carries an expiration_time all the same
    expiring = new_record(origin=Origin.EXTERNAL, expiration_time=NOW - 1000)
    later = new_record(origin=Origin.EXTERNAL, expiration_time=NOW + 1000)
    forever = new_record(origin=Origin.EXTERNAL)
    kms_made = new_record(expiration_time=NOW - 1000)
    for record in (later, forever, kms_made, expiring):
        store.create_key(record)
    # Then the due index holds the expiring material by its expiry (KeyRecord.due_at)
    assert store.due_for_deletion(NOW, 10) == [expiring]
    assert store.due_for_deletion(NOW + 1000, 10) == [expiring, later]
    # When its material is erased (pending import, versions destroyed), Then it is due no more
    erased = change(
        store,
        expiring,
        key_state=KeyState.PENDING_IMPORT,
        versions=expiring.versions.erased(),
        expiration_time=None,
    )
    assert erased.due_at is None
    assert store.due_for_deletion(NOW + 1000, 10) == [later]


# -- due for rotation --------------------------------------------------------------------------


def rotating(new_record: RecordFactory, next_time: int, **changes: Any) -> KeyRecord:
    """A new enabled record with automatic rotation enabled, next due at ``next_time``."""
    return new_record(key_rotation_enabled=True, next_rotation_time=next_time, **changes)


def test_due_for_rotation_is_the_live_enabled_keys_with_rotation_enabled_up_to_now_earliest_first(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given keys with rotation enabled in two projects, due before or right at NOW, and keys that
    # are not: due later, rotation disabled (with a stale time), disabled, pending deletion (and due
    # for deletion), deleted; created in no particular order
    due = [
        rotating(new_record, NOW - 3000, project_id=OTHER_PROJECT),
        rotating(new_record, NOW - 2000),
        rotating(new_record, NOW - 1000, project_id=OTHER_PROJECT),
        rotating(new_record, NOW),
    ]
    later = rotating(new_record, NOW + 1)
    dead = rotating(new_record, NOW - 4000)
    deleting = rotating(
        new_record, NOW - 5000, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW - 10
    )
    others = [
        later,
        new_record(key_rotation_enabled=False, next_rotation_time=NOW - 6000),
        dead,
        rotating(new_record, NOW - 7000, key_state=KeyState.DISABLED),
        deleting,
        new_record(),
    ]
    for record in (others[0], due[2], others[1], due[3], others[2], due[1], others[3], others[4], due[0]):
        store.create_key(record)
    store.create_key(others[5])
    tombstone(store, dead)
    # When / Then the due keys come earliest first, at most limit of them, the bound inclusive
    assert store.due_for_rotation(NOW, 100) == due
    assert store.due_for_rotation(NOW, 2) == due[:2]
    assert store.due_for_rotation(NOW - 3001, 100) == []
    assert store.due_for_rotation(NOW - 3000, 100) == due[:1]
    assert store.due_for_rotation(NOW + 1, 100) == [*due, later]
    # And the keys due for deletion are still exactly those (the two schedules do not mix)
    assert store.due_for_deletion(NOW, 100) == [deleting]


def test_a_key_leaves_the_rotation_schedule_while_disabled_or_pending_deletion_and_comes_back(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given an enabled key with rotation enabled, due
    key = rotating(new_record, NOW - 1000)
    store.create_key(key)
    assert store.due_for_rotation(NOW, 10) == [key]
    # When it is disabled, Then it is not due; re-enabled and still overdue, it is due again
    key = change(store, key, key_state=KeyState.DISABLED)
    assert store.due_for_rotation(NOW, 10) == []
    key = change(store, key, key_state=KeyState.ENABLED)
    assert store.due_for_rotation(NOW, 10) == [key]
    # When its deletion is scheduled, Then it is due for deletion only; cancelled (disabled), neither
    key = change(store, key, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW - 1)
    assert store.due_for_rotation(NOW, 10) == []
    assert store.due_for_deletion(NOW, 10) == [key]
    key = change(store, key, key_state=KeyState.DISABLED, scheduled_deletion_date=None)
    assert store.due_for_rotation(NOW, 10) == []
    assert store.due_for_deletion(NOW, 10) == []
    # When it is enabled and rotated (its next time one period later), Then it is due only then
    key = change(store, key, key_state=KeyState.ENABLED)
    key = change(store, key, next_rotation_time=NOW + 5000)
    assert store.due_for_rotation(NOW, 10) == []
    assert store.due_for_rotation(NOW + 5000, 10) == [key]
    # When rotation is disabled, Then it leaves the schedule
    key = change(store, key, key_rotation_enabled=False, next_rotation_time=None)
    assert store.due_for_rotation(NOW + 10_000, 10) == []


# -- concurrency -------------------------------------------------------------------------------

THREADS = 16
INCREMENTS_PER_THREAD = 5


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
    errors = run_threads(THREADS, work)
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
    errors = run_threads(THREADS, create)
    # Then exactly one wins and only the winner is stored
    assert errors == []
    assert sorted(outcomes) == ["alias-exists"] * (THREADS - 1) + ["created"]
    project_id = contenders[0].project_id
    winner = store.get_key_by_alias(project_id, "contested")
    assert winner in contenders
    assert store.count_keys(project_id) == 1
    assert store.list_keys(project_id, 100).records == [winner]


def test_concurrent_deletions_of_one_key_count_once(
    threaded_store: KeyStore, new_record: RecordFactory
) -> None:
    store = threaded_store
    # Given 3 keys, and one of them read once by 16 writers
    records = [new_record() for _ in range(3)]
    for record in records:
        store.create_key(record)
    project_id = records[0].project_id
    seen = store.get_key(project_id, records[0].key_id)
    assert seen is not None
    outcomes: list[str] = []
    lock = threading.Lock()

    def delete(index: int) -> None:
        try:
            tombstone(store, seen, DELETED_AT + index)
            outcome = "deleted"
        except ConcurrentUpdate:
            outcome = "conflict"
        with lock:
            outcomes.append(outcome)

    # When all of them make it a tombstone at the same time
    errors = run_threads(THREADS, delete)
    # Then exactly one wins, and the count went down by exactly one
    assert errors == []
    assert sorted(outcomes) == ["conflict"] * (THREADS - 1) + ["deleted"]
    assert store.count_keys(project_id) == 2
    assert listed(store, project_id) == records[1:]


# -- SQLite only -------------------------------------------------------------------------------


def test_sqlite_instances_on_one_file_share_state_and_survive_restart(
    tmp_path: pathlib.Path, new_record: RecordFactory
) -> None:
    # Given two stores opened on the same file (two "processes")
    path = tmp_path / "shared.sqlite3"
    one, two = SqliteKeyFile(path), SqliteKeyFile(path)
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
    reopened = SqliteKeyFile(path)
    assert reopened.list_keys(first.project_id, 10).records == [updated, second]
    assert reopened.integrity_check() is True
    reopened.close()
    journal_mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal_mode == "wal"


def test_sqlite_store_is_usable_after_close(tmp_path: pathlib.Path, new_record: RecordFactory) -> None:
    # Given a store that was closed
    store = SqliteKeyFile(tmp_path / "k.sqlite3")
    record = new_record()
    store.create_key(record)
    store.close()
    # When it is used again, Then it reconnects
    assert store.get_key(record.project_id, record.key_id) == record
    store.close()


def _increment_in_process(path: str, project_id: str, key_id: str, times: int) -> None:
    store = SqliteKeyFile(pathlib.Path(path))
    for _ in range(times):
        increment(store, project_id, key_id)
    store.close()


def test_sqlite_concurrent_processes_lose_no_increment(
    tmp_path: pathlib.Path, new_record: RecordFactory
) -> None:
    # Given a key holding a counter of 0 in a file
    path = tmp_path / "multi.sqlite3"
    store = SqliteKeyFile(path)
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
        SqliteKeyFile(tmp_path / "missing-dir" / "k.sqlite3")
    assert isinstance(caught.value.__cause__, sqlite3.Error)


_PLAN_FILTERS = [
    None,
    KeyFilter(key_spec="RSA_2048"),
    KeyFilter(key_state="2"),
    KeyFilter(enterprise_project_id="ep-1"),
    KeyFilter(key_spec="RSA_2048", key_state="2"),
    KeyFilter(key_spec="RSA_2048", enterprise_project_id="ep-1"),
    KeyFilter(key_state="2", enterprise_project_id="ep-1"),
    KeyFilter(key_spec="RSA_2048", key_state="2", enterprise_project_id="ep-1"),
]


def test_sqlite_pages_and_counts_are_index_searches(
    tmp_path: pathlib.Path, new_record: RecordFactory
) -> None:
    # Given a store with keys of mixed kinds, one a tombstone
    store = SqliteKeyFile(tmp_path / "plan.sqlite3")
    stored = _populate(store, new_record)
    project_id = stored[0].project_id
    cursor = store.list_keys(project_id, 2).next_cursor
    assert cursor is not None
    # And the SQL this thread's connection (the one list_keys and count_keys use) runs, traced
    # with its values bound
    conn = store._conn()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    # When every filter combination reads a first page, a later page and a count
    for filters in _PLAN_FILTERS:
        store.list_keys(project_id, 2, filters=filters)
        store.list_keys(project_id, 2, cursor, filters=filters)
        store.count_keys(project_id, filters=filters)
    conn.set_trace_callback(None)
    # Then each page is one SEARCH of a listing index (project_id, deleted[, filter], seq): no
    # SCAN of the table or of an index, and no sort (seq comes in index order); a later page
    # first finds its cursor's key by the UNIQUE key_id index; each count is a SEARCH of the
    # small trigger-maintained key_counts table by its primary key
    assert len(statements) == 4 * len(_PLAN_FILTERS)
    for sql in statements:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert len(plan) == 1, (sql, plan)
        if "key_counts" in sql:
            assert plan[0].startswith("SEARCH key_counts USING PRIMARY KEY (project_id=?"), (sql, plan)
            continue
        if sql.startswith("SELECT seq FROM keys WHERE key_id"):
            assert plan[0].startswith("SEARCH keys USING INDEX sqlite_autoindex_keys_"), (sql, plan)
            assert "(key_id=?)" in plan[0], (sql, plan)
            continue
        assert plan[0].startswith(
            ("SEARCH keys USING INDEX keys_live_", "SEARCH keys USING COVERING INDEX keys_live_")
        ), (sql, plan)
        assert "project_id=? AND deleted=?" in plan[0], (sql, plan)
        assert "seq>?" in plan[0], (sql, plan)
    assert sum("key_counts" in sql for sql in statements) == len(_PLAN_FILTERS)
    store.close()


# The schema of the previous adapter version, verbatim: no listing columns.
_OLD_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS keys (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id TEXT    NOT NULL,
        key_id     TEXT    NOT NULL UNIQUE,
        key_alias  TEXT    NOT NULL,
        revision   INTEGER NOT NULL,
        record     TEXT    NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX IF NOT EXISTS keys_project_alias ON keys (project_id, key_alias)",
    "CREATE INDEX IF NOT EXISTS keys_project_seq ON keys (project_id, seq)",
    """
    CREATE TABLE IF NOT EXISTS principals (
        kind TEXT NOT NULL,
        id   TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    ) WITHOUT ROWID
    """,
)


def _create_old_database(path: pathlib.Path, records: list[KeyRecord]) -> None:
    """A database as the previous version left it, its rows inserted the old way. Live records
    are written without deleted_at (documents from before the field existed)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in _OLD_SCHEMA:
        conn.execute(statement)
    for record in records:
        document = json.loads(codec.to_json(record))
        if record.deleted_at is None:
            del document["deleted_at"]
        conn.execute(
            "INSERT INTO keys (project_id, key_id, key_alias, revision, record) VALUES (?, ?, ?, ?, ?)",
            (record.project_id, record.key_id, record.key_alias, record.revision, json.dumps(document)),
        )
    conn.close()


def test_sqlite_database_of_the_old_schema_is_migrated_when_opened(
    tmp_path: pathlib.Path, new_record: RecordFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a database of the previous schema holding 3 live keys and a tombstone, and a
    # backfill batch smaller than that
    monkeypatch.setattr("skms.storage.sqlite.keys._BACKFILL_BATCH", 3)
    path = tmp_path / "old.sqlite3"
    old = [
        new_record(key_spec="RSA_2048", enterprise_project_id="ep-1"),
        new_record(),
        new_record(key_state=KeyState.DISABLED),
        new_record(key_spec="RSA_2048", enterprise_project_id="ep-1", deleted_at=DELETED_AT),
    ]
    _create_old_database(path, old)
    project_id = old[0].project_id
    # When 4 stores open it at the same time
    opened: list[SqliteKeyFile] = []
    errors = run_threads(4, lambda _: opened.append(SqliteKeyFile(path)))
    assert errors == []
    store = opened[0]
    # Then it is migrated once: the listing columns and indexes are there, the old index is gone
    raw = sqlite3.connect(path)
    columns = [row[1] for row in raw.execute("PRAGMA table_info(keys)")]
    assert columns == [
        *("seq", "project_id", "key_id", "key_alias", "revision", "record"),
        *("key_spec", "key_state", "enterprise_project_id", "deleted", "due_at", "rotate_at"),
    ]
    indexes = {row[1] for row in raw.execute("PRAGMA index_list(keys)")}
    assert indexes >= {
        "keys_rotate",
        "keys_project_alias",
        "keys_live_seq",
        "keys_live_key_spec_seq",
        "keys_live_key_state_seq",
        "keys_live_enterprise_project_id_seq",
    }
    assert "keys_project_seq" not in indexes
    raw.close()
    # And the old rows list and count with filters, the tombstone left out but still readable
    assert listed(store, project_id, 2) == old[:3]
    assert listed(store, project_id, 1, KeyFilter(key_spec="RSA_2048")) == [old[0]]
    assert listed(store, project_id, 1, KeyFilter(key_state="3")) == [old[2]]
    assert listed(store, project_id, 1, KeyFilter(enterprise_project_id="ep-1")) == [old[0]]
    assert store.count_keys(project_id) == 3
    assert store.count_keys(project_id, filters=KeyFilter(key_spec="RSA_2048")) == 1
    assert store.get_key(project_id, old[3].key_id) == old[3]
    # And keys created and deleted after the migration list with them
    new = new_record(key_spec="RSA_2048")
    store.create_key(new)
    tombstone(store, old[1])
    assert listed(store, project_id) == [old[0], old[2], new]
    assert store.count_keys(project_id, filters=KeyFilter(key_spec="RSA_2048")) == 2
    for each in opened:
        each.close()
    # And opening it again finds nothing to migrate and changes nothing
    reopened = SqliteKeyFile(path)
    assert listed(reopened, project_id) == [old[0], old[2], new]
    assert reopened.count_keys(project_id) == 3
    assert reopened.integrity_check() is True
    reopened.close()


# -- DynamoDB only -----------------------------------------------------------------------------


@pytest.fixture
def dynamo_store(dynamo_store_factory: Callable[[], KeyStore]) -> KeyStore:
    return dynamo_store_factory()


def test_dynamodb_client_is_created_lazily_and_once(
    dynamo_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skms.storage.dynamodb import DynamoKeyStore, DynamoTable

    # Given boto3 counting the clients it makes
    made: list[str] = []
    real_client = boto3.client

    def counting_client(service: str, **kwargs: Any) -> Any:
        made.append(service)
        return real_client(service, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("boto3.client", counting_client)
    # When a store is constructed, Then no client is made yet
    store = DynamoKeyStore(DynamoTable(dynamo_table))
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
    client = cast(DynamoKeyStore, dynamo_store)._table.client()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    # When the keys are listed in pages and counted, with and without filters
    project_id = records[0].project_id
    assert [r for page in walk(dynamo_store, project_id, 2) for r in page] == records
    assert [
        r for page in walk(dynamo_store, project_id, 2, KeyFilter(key_spec="AES_256")) for r in page
    ] == records
    assert dynamo_store.count_keys(project_id) == 5
    assert dynamo_store.count_keys(project_id, filters=KeyFilter(key_state="2")) == 5
    # Then only Query was used: on the index to list, on the partition's counters to count
    assert set(calls) == {"Query"}


def _record_calls(store: KeyStore) -> tuple[list[str], list[dict[str, Any]]]:
    """Start recording the operation names, and the Query parameters, of a DynamoDB store."""
    from skms.storage.dynamodb import DynamoKeyStore

    calls: list[str] = []
    queries: list[dict[str, Any]] = []
    client = cast(DynamoKeyStore, store)._table.client()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    client.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: queries.append(dict(params))
    )
    return calls, queries


def _raw_key_item(project_id: str, key_id: str) -> dict[str, Any]:
    key = {"PK": {"S": f"P#{project_id}"}, "SK": {"S": f"K#{key_id}"}}
    item: dict[str, Any] = boto3.client("dynamodb").get_item(TableName=TABLE_NAME, Key=key)["Item"]
    return item


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _counters(project_id: str) -> dict[Group, int]:
    """The project's non-zero group counters, read raw; checks every counter item's key and sign."""
    items = boto3.client("dynamodb").query(
        TableName=TABLE_NAME,
        KeyConditionExpression="PK = :p AND begins_with(SK, :c)",
        ExpressionAttributeValues={":p": {"S": f"P#{project_id}"}, ":c": {"S": "COUNT#"}},
        ConsistentRead=True,
    )["Items"]
    counters: dict[Group, int] = {}
    for item in items:
        group = (item["key_spec"]["S"], item["key_state"]["S"], item["enterprise_project_id"]["S"])
        assert item["SK"]["S"] == "COUNT#" + "#".join(_b64url(value) for value in group)
        keys = int(item["keys"]["N"])
        assert keys >= 0, (group, keys)
        if keys:
            counters[group] = keys
    return counters


def _groups(records: Iterable[KeyRecord]) -> dict[Group, int]:
    """What the counters should hold: the live records by group."""
    return dict(Counter(_group(record) for record in records if record.deleted_at is None))


def test_dynamodb_tombstone_leaves_the_index_and_the_counter_in_one_transaction(
    dynamo_store: KeyStore, new_record: RecordFactory
) -> None:
    # Given 3 keys
    records = [new_record() for _ in range(3)]
    for record in records:
        dynamo_store.create_key(record)
    project_id = records[0].project_id
    calls, _ = _record_calls(dynamo_store)
    # When one is updated, Then that is one conditional PutItem
    dynamo_store.update_key(records[0].replace(key_description="x"), records[0].revision)
    assert calls == ["PutItem"]
    calls.clear()
    # When another becomes a tombstone, Then that is one transaction (key Put + counter ADD -1)
    dead = tombstone(dynamo_store, records[1])
    assert calls == ["TransactWriteItems"]
    # And a live item has no deleted_at, while the tombstone has one and no GSI keys
    live_item = _raw_key_item(project_id, records[0].key_id)
    assert "deleted_at" not in live_item
    assert {"GSI1PK", "GSI1SK"} <= set(live_item)
    dead_item = _raw_key_item(project_id, dead.key_id)
    assert dead_item["deleted_at"] == {"N": str(DELETED_AT)}
    assert not {"GSI1PK", "GSI1SK"} & set(dead_item)
    # And the index holds the live keys only, and the counter counts them
    index = boto3.client("dynamodb").query(
        TableName=TABLE_NAME,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :p",
        ExpressionAttributeValues={":p": {"S": f"P#{project_id}"}},
    )["Items"]
    assert [item["key_id"]["S"] for item in index] == [records[0].key_id, records[2].key_id]
    assert _counters(project_id) == {("AES_256", "2", "0"): 2}


def test_dynamodb_item_with_a_null_deleted_at_is_a_live_key(
    dynamo_store: KeyStore, new_record: RecordFactory
) -> None:
    # Given two keys, one rewritten with deleted_at NULL (as a previous version stored None)
    record, other = new_record(), new_record()
    dynamo_store.create_key(record)
    dynamo_store.create_key(other)
    boto3.client("dynamodb").update_item(
        TableName=TABLE_NAME,
        Key={"PK": {"S": f"P#{record.project_id}"}, "SK": {"S": f"K#{record.key_id}"}},
        UpdateExpression="SET deleted_at = :null",
        ExpressionAttributeValues={":null": {"NULL": True}},
    )
    # When / Then it reads, lists and counts as live
    assert dynamo_store.get_key(record.project_id, record.key_id) == record
    assert listed(dynamo_store, record.project_id, 1, KeyFilter(key_spec="AES_256")) == [record, other]
    assert dynamo_store.count_keys(record.project_id, filters=KeyFilter(key_spec="AES_256")) == 2
    # And its deletion is counted like any other
    tombstone(dynamo_store, record)
    assert listed(dynamo_store, record.project_id) == [other]
    assert dynamo_store.count_keys(record.project_id) == 1


def test_dynamodb_sparse_filtered_pages_read_on_in_growing_queries(
    dynamo_store: KeyStore, new_record: RecordFactory
) -> None:
    from skms.storage import dynamodb

    # Given 40 keys of which every tenth is RSA
    records = [new_record(key_spec="RSA_2048" if i % 10 == 9 else "AES_256") for i in range(40)]
    for record in records:
        dynamo_store.create_key(record)
    project_id = records[0].project_id
    rsa = KeyFilter(key_spec="RSA_2048")
    calls, queries = _record_calls(dynamo_store)
    # When the RSA keys are listed one per page
    pages = walk(dynamo_store, project_id, 1, rsa)
    # Then each page holds the next match, and the reads grew (Limit doubling) rather than
    # stepping one key at a time: 40 keys in a handful of Query calls per page
    assert [r for page in pages for r in page] == records[9::10]
    limits = [query["Limit"] for query in queries]
    assert all(query.get("FilterExpression") and query["IndexName"] == "GSI1" for query in queries)
    assert max(limits) > 2
    assert max(limits) <= dynamodb.keys._MAX_QUERY_LIMIT
    assert len(queries) <= 4 * len(pages)
    # When the matches are counted, Then that is one Query of the counters, and the total is right
    queries.clear()
    assert dynamo_store.count_keys(project_id, filters=rsa) == 4
    (query,) = queries
    assert "IndexName" not in query
    assert set(calls) == {"Query"}


def test_dynamodb_table_matches_the_template(dynamo_table: str) -> None:
    # Given the table built from template.yaml, Then it has the keys and index the adapter uses
    table = boto3.client("dynamodb").describe_table(TableName=dynamo_table)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["PK", "SK"]
    indexes = {
        gsi["IndexName"]: (
            [k["AttributeName"] for k in gsi["KeySchema"]],
            gsi["Projection"]["ProjectionType"],
        )
        for gsi in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {"GSI1": (["GSI1PK", "GSI1SK"], "ALL"), "GSI2": (["GSI2PK", "GSI2SK"], "ALL")}


def test_dynamodb_missing_table_is_a_storage_failure(aws_env: None, new_record: RecordFactory) -> None:
    from skms.storage.dynamodb import DynamoKeyStore, DynamoTable

    # Given a store on a table that does not exist
    store = DynamoKeyStore(DynamoTable("no-such-table"))
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
    from skms.storage.dynamodb import DynamoKeyStore, DynamoTable

    # Given a store whose first transaction meets a conflicting transaction
    client = _ConflictOnce(boto3.client("dynamodb"))
    store = DynamoKeyStore(DynamoTable(dynamo_table, client=cast(Any, client)))
    # When a key is created
    record = new_record()
    store.create_key(record)
    # Then the create is retried and succeeds once
    assert client.transactions == 2
    assert store.get_key(record.project_id, record.key_id) == record
    assert store.count_keys(record.project_id) == 1


# -- DynamoDB: group counters, GSI2 --------------------------------------------------------------


def _is_count_query(query: dict[str, Any]) -> bool:
    """A Query of the project partition's COUNT# items: the base table, no filter, no GSI."""
    return (
        "IndexName" not in query
        and "FilterExpression" not in query
        and query["KeyConditionExpression"] == "PK = :p AND begins_with(SK, :prefix)"
        and query["ExpressionAttributeValues"][":prefix"] == {"S": "COUNT#"}
    )


def test_dynamodb_counts_are_one_query_of_the_partitions_group_counters(
    dynamo_store: KeyStore, new_record: RecordFactory
) -> None:
    # Given the mixed population (two tombstones) with its twins in another project, and in a
    # third project two keys whose groups a plain "#"-join would confuse: ("A#2", "2", "0") and
    # ("A", "2", "2#0") both give "A#2#2#0"
    stored = _populate(dynamo_store, new_record)
    project_id = stored[0].project_id
    tricky = [
        new_record("t" * 32, key_spec="A#2"),
        new_record("t" * 32, key_spec="A", enterprise_project_id="2#0"),
    ]
    for record in tricky:
        dynamo_store.create_key(record)
    # Then each partition holds one counter per group of its live keys, with the right numbers
    assert _counters(project_id) == _groups(stored)
    assert _counters("t" * 32) == _groups(tricky) == {("A#2", "2", "0"): 1, ("A", "2", "2#0"): 1}
    # When every filter combination is counted
    calls, queries = _record_calls(dynamo_store)
    for case, filters, expected in _FILTER_CASES:
        # Then the counts are right
        assert dynamo_store.count_keys(project_id, filters=filters) == len(expected), case
    assert dynamo_store.count_keys("t" * 32, filters=KeyFilter(key_spec="A")) == 1
    assert dynamo_store.count_keys("t" * 32, filters=KeyFilter(key_spec="A#2")) == 1
    assert dynamo_store.count_keys("t" * 32, filters=KeyFilter(enterprise_project_id="2#0")) == 1
    # And each was exactly one Query of the counters: no GSI1 Query, no Scan, no key item read
    assert calls == ["Query"] * (len(_FILTER_CASES) + 3)
    assert all(_is_count_query(query) for query in queries)
    # And the single counter of the previous version is not written any more
    old_counter = {"PK": {"S": f"P#{project_id}"}, "SK": {"S": "COUNT"}}
    assert "Item" not in boto3.client("dynamodb").get_item(TableName=TABLE_NAME, Key=old_counter)


def test_dynamodb_group_counters_move_in_the_same_write_as_the_key(
    dynamo_store: KeyStore, new_record: RecordFactory
) -> None:
    # Given keys read by this store (as a read-modify-write does)
    records = {
        record.key_id: record
        for record in (
            new_record(),
            new_record(key_spec="RSA_2048"),
            new_record(enterprise_project_id="ep-1"),
        )
    }
    for record in records.values():
        dynamo_store.create_key(record)
    a, b, c = (dynamo_store.get_key(record.project_id, key_id) for key_id, record in records.items())
    assert a is not None
    assert b is not None
    assert c is not None
    project_id = a.project_id
    calls, _ = _record_calls(dynamo_store)

    def step(record: KeyRecord, operations: list[str]) -> KeyRecord:
        assert calls == operations
        calls.clear()
        records[record.key_id] = record
        assert _counters(project_id) == _groups(records.values())
        return record

    # When keys change group, liveness, alias, or nothing counted, Then each update is one write:
    # a transaction when a counter moves or the alias does, else one conditional PutItem; and the
    # counters are exact after each
    a = step(change(dynamo_store, a, key_state=KeyState.DISABLED), ["TransactWriteItems"])
    b = step(change(dynamo_store, b, enterprise_project_id="ep-2"), ["TransactWriteItems"])
    c = step(
        change(
            dynamo_store, c, key_description="x", versions=KeyVersions.of_materials({1: b"k", 2: b"l"}, 2)
        ),
        ["PutItem"],
    )
    c = step(change(dynamo_store, c, key_alias="c2"), ["TransactWriteItems"])
    c = step(
        change(dynamo_store, c, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW),
        ["TransactWriteItems"],
    )
    c = step(change(dynamo_store, c, key_description="still pending"), ["PutItem"])
    c = step(tombstone(dynamo_store, c), ["TransactWriteItems"])
    c = step(change(dynamo_store, c, key_description="purged", key_state=KeyState.DISABLED), ["PutItem"])
    a = step(
        change(dynamo_store, a, key_state=KeyState.ENABLED, enterprise_project_id="ep-1", key_alias="a2"),
        ["TransactWriteItems"],
    )
    assert dynamo_store.count_keys(project_id) == 2


def test_dynamodb_update_by_a_store_that_did_not_read_the_key_still_moves_the_counters(
    dynamo_store_factory: Callable[[], KeyStore], new_record: RecordFactory
) -> None:
    # Given a key created by one store, and a record of it that another store never read
    writer, other = dynamo_store_factory(), dynamo_store_factory()
    record = new_record(key_state=KeyState.ENABLED)
    writer.create_key(record)
    calls, _ = _record_calls(other)
    # When the other store changes its state
    disabled = change(other, record, key_state=KeyState.DISABLED)
    # Then its guess (same group) failed the condition, which returned the stored item, and the
    # transaction made on what it said moved the counters
    assert calls == ["PutItem", "TransactWriteItems"]
    assert _counters(record.project_id) == _groups([disabled])
    assert other.get_key(record.project_id, record.key_id) == disabled


def test_dynamodb_of_two_stores_racing_from_one_read_only_the_winner_moves_the_counters(
    dynamo_store_factory: Callable[[], KeyStore], new_record: RecordFactory
) -> None:
    # Given two stores (two Lambda instances) that read the same version of a key
    one, two = dynamo_store_factory(), dynamo_store_factory()
    record = new_record()
    one.create_key(record)
    seen_by_one = one.get_key(record.project_id, record.key_id)
    seen_by_two = two.get_key(record.project_id, record.key_id)
    assert seen_by_one is not None
    assert seen_by_two is not None
    # When one disables it and then two moves it to another enterprise project, from that read
    winner = change(one, seen_by_one, key_state=KeyState.DISABLED)
    calls, _ = _record_calls(two)
    with pytest.raises(ConcurrentUpdate):
        change(two, seen_by_two, enterprise_project_id="ep-2")
    # Then the loser's transaction was cancelled whole: only the winner's group is counted
    assert calls[0] == "TransactWriteItems"
    assert "PutItem" not in calls
    assert _counters(record.project_id) == _groups([winner])
    # And the loser, retrying from a fresh read, moves the counters once more
    fresh = two.get_key(record.project_id, record.key_id)
    assert fresh == winner
    moved = change(two, fresh, enterprise_project_id="ep-2")
    assert _counters(record.project_id) == {("AES_256", "3", "ep-2"): 1}
    assert one.count_keys(record.project_id, filters=KeyFilter(enterprise_project_id="ep-2")) == 1
    assert one.get_key(record.project_id, record.key_id) == moved


def test_dynamodb_only_keys_pending_deletion_carry_the_gsi2_attributes(
    dynamo_store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a key created pending deletion and one created enabled
    created_pending = pending(new_record, NOW - 1000)
    record = new_record()
    dynamo_store.create_key(created_pending)
    dynamo_store.create_key(record)
    project_id = record.project_id

    def gsi2(key: KeyRecord) -> dict[str, Any]:
        item = _raw_key_item(project_id, key.key_id)
        return {name: item[name]["S"] for name in ("GSI2PK", "GSI2SK") if name in item}

    def due_key(key: KeyRecord) -> dict[str, Any]:
        return {"GSI2PK": "DUE", "GSI2SK": f"{key.scheduled_deletion_date:013d}#{project_id}#{key.key_id}"}

    # Then only the pending one has the GSI2 attributes: its date, then project and key id
    assert gsi2(created_pending) == due_key(created_pending)
    assert gsi2(record) == {}
    # When the enabled one is scheduled for deletion, it gets them; cancelled, it loses them
    record = change(dynamo_store, record, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW)
    assert gsi2(record) == due_key(record)
    record = change(dynamo_store, record, key_state=KeyState.DISABLED, scheduled_deletion_date=None)
    assert gsi2(record) == {}
    # And rescheduled then deleted, it loses them with its GSI1 keys
    record = change(dynamo_store, record, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW)
    assert gsi2(record) == due_key(record)
    record = tombstone(dynamo_store, record)
    assert gsi2(record) == {}
    assert not {"GSI1PK", "GSI1SK"} & set(_raw_key_item(project_id, record.key_id))
    # And GSI2 holds exactly the remaining pending key
    index = boto3.client("dynamodb").scan(TableName=TABLE_NAME, IndexName="GSI2")["Items"]
    assert [item["key_id"]["S"] for item in index] == [created_pending.key_id]


def test_dynamodb_due_for_deletion_is_one_query_of_gsi2(
    dynamo_store: KeyStore, new_record: RecordFactory
) -> None:
    # Given keys pending deletion in two projects among keys that are not
    due = [pending(new_record, NOW - 2000), pending(new_record, NOW - 1000, project_id=OTHER_PROJECT)]
    for record in (new_record(), due[1], pending(new_record, NOW + 1), due[0], new_record()):
        dynamo_store.create_key(record)
    calls, queries = _record_calls(dynamo_store)
    # When the due keys are read, with a limit
    assert dynamo_store.due_for_deletion(NOW, 1) == due[:1]
    assert dynamo_store.due_for_deletion(NOW, 10) == due
    # Then each read was one Query of GSI2 with that Limit, ascending: no Scan, no other index
    assert calls == ["Query", "Query"]
    assert [(query["IndexName"], query["Limit"], query["ScanIndexForward"]) for query in queries] == [
        ("GSI2", 1, True),
        ("GSI2", 10, True),
    ]


def test_dynamodb_keys_on_the_rotation_schedule_carry_gsi2_rotate_and_are_read_by_one_query(
    dynamo_store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a key with rotation enabled and due, and a key pending deletion
    record = rotating(new_record, NOW - 1000)
    deleting = pending(new_record, NOW - 1000)
    dynamo_store.create_key(record)
    dynamo_store.create_key(deleting)
    project_id = record.project_id

    def gsi2(key: KeyRecord) -> dict[str, Any]:
        item = _raw_key_item(project_id, key.key_id)
        return {name: item[name]["S"] for name in ("GSI2PK", "GSI2SK") if name in item}

    # Then the first is in GSI2's ROTATE partition by its next rotation time, the other in DUE
    assert gsi2(record) == {"GSI2PK": "ROTATE", "GSI2SK": f"{NOW - 1000:013d}#{project_id}#{record.key_id}"}
    assert gsi2(deleting)["GSI2PK"] == "DUE"
    # When the due keys are read, Then that is one Query of GSI2, partition ROTATE, ascending
    calls, queries = _record_calls(dynamo_store)
    assert dynamo_store.due_for_rotation(NOW, 10) == [record]
    assert calls == ["Query"]
    assert queries[0]["IndexName"] == "GSI2"
    assert queries[0]["ExpressionAttributeValues"][":due"] == {"S": "ROTATE"}
    # When it is scheduled for deletion, it moves to DUE; cancelled (disabled), it leaves GSI2
    record = change(dynamo_store, record, key_state=KeyState.PENDING_DELETION, scheduled_deletion_date=NOW)
    assert gsi2(record) == {"GSI2PK": "DUE", "GSI2SK": f"{NOW:013d}#{project_id}#{record.key_id}"}
    record = change(dynamo_store, record, key_state=KeyState.DISABLED, scheduled_deletion_date=None)
    assert gsi2(record) == {}


def test_dynamodb_rebuild_counts_repairs_a_table_of_the_previous_version(
    dynamo_store: KeyStore, new_record: RecordFactory
) -> None:
    from skms.storage.dynamodb import DynamoKeyStore

    # Given the mixed population, two more keys pending deletion and one in another state, then
    # made to look as the previous version left it: no COUNT# items but a stale group and the old
    # single COUNT item, no GSI2 attributes, and a tombstone still in GSI1
    stored = _populate(dynamo_store, new_record)
    project_id = stored[0].project_id
    extra = [
        pending(new_record, NOW - 1000),
        pending(new_record, NOW + 1000, enterprise_project_id="ep-2"),
        new_record(key_state=KeyState.DISABLED),
    ]
    for record in extra:
        dynamo_store.create_key(record)
    raw = boto3.client("dynamodb")
    partition = {"PK": {"S": f"P#{project_id}"}}
    for item in raw.query(
        TableName=TABLE_NAME,
        KeyConditionExpression="PK = :p AND begins_with(SK, :c)",
        ExpressionAttributeValues={":p": partition["PK"], ":c": {"S": "COUNT#"}},
    )["Items"]:
        raw.delete_item(TableName=TABLE_NAME, Key={"PK": item["PK"], "SK": item["SK"]})
    stale_group = ("SM4", "3", "ep-9")
    raw.put_item(
        TableName=TABLE_NAME,
        Item={
            **partition,
            "SK": {"S": "COUNT#" + "#".join(_b64url(value) for value in stale_group)},
            "key_spec": {"S": "SM4"},
            "key_state": {"S": "3"},
            "enterprise_project_id": {"S": "ep-9"},
            "keys": {"N": "5"},
        },
    )
    raw.put_item(TableName=TABLE_NAME, Item={**partition, "SK": {"S": "COUNT"}, "keys": {"N": "10"}})
    for record in extra[:2]:  # the keys pending deletion
        raw.update_item(
            TableName=TABLE_NAME,
            Key={**partition, "SK": {"S": f"K#{record.key_id}"}},
            UpdateExpression="REMOVE GSI2PK, GSI2SK",
        )
    dead = stored[3]
    raw.update_item(
        TableName=TABLE_NAME,
        Key={**partition, "SK": {"S": f"K#{dead.key_id}"}},
        UpdateExpression="SET GSI1PK = :p, GSI1SK = :s",
        ExpressionAttributeValues={
            ":p": partition["PK"],
            ":s": {"S": f"{dead.creation_date:013d}#{dead.key_id}"},
        },
    )
    assert dynamo_store.count_keys(project_id) == 5
    assert dynamo_store.due_for_deletion(NOW, 10) == []
    # When the counters are rebuilt
    live = [record for record in [*stored, *extra] if record.deleted_at is None]
    assert cast(DynamoKeyStore, dynamo_store).rebuild_counts(project_id) == len(live)
    # Then the groups are counted again (the stale one at zero), and every count is right
    assert _counters(project_id) == _groups(live)
    check_counts(dynamo_store, project_id, live)
    # And the keys pending deletion are due again, the tombstone left GSI1, the records unchanged
    assert dynamo_store.due_for_deletion(NOW, 10) == [extra[0]]
    assert dynamo_store.due_for_deletion(NOW + 1000, 10) == extra[:2]
    assert listed(dynamo_store, project_id, 3) == live
    assert dynamo_store.get_key(project_id, dead.key_id) == dead
    # And a second run changes nothing
    assert cast(DynamoKeyStore, dynamo_store).rebuild_counts(project_id) == len(live)
    assert _counters(project_id) == _groups(live)


# -- the key quota, checked inside the write -------------------------------------------------------


def test_create_key_with_a_quota_refuses_the_key_beyond_it(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a project with 2 live keys and one tombstone
    first = new_record()
    store.create_key(first, quota=3)
    store.create_key(new_record(project_id=first.project_id), quota=3)
    dead = new_record(project_id=first.project_id)
    store.create_key(dead, quota=3)
    tombstone(store, dead)
    # When a third and a fourth live key are created with a quota of 3
    store.create_key(new_record(project_id=first.project_id), quota=3)
    refused = new_record(project_id=first.project_id)
    with pytest.raises(QuotaExceeded):
        store.create_key(refused, quota=3)
    # Then the tombstone freed its place, the fourth was refused and left nothing behind
    assert store.count_keys(first.project_id) == 3
    assert store.get_key(first.project_id, refused.key_id) is None
    assert store.get_key_by_alias(first.project_id, refused.key_alias) is None
    # And another project and a create without a quota are not limited by it
    store.create_key(new_record(project_id=OTHER_PROJECT), quota=3)
    store.create_key(new_record(project_id=first.project_id))
    assert store.count_keys(first.project_id) == 4


def test_concurrent_creates_never_overshoot_the_quota(
    threaded_store: KeyStore, new_record: RecordFactory
) -> None:
    store = threaded_store
    # Given a project with 3 keys and a quota of 8
    project_id = new_record().project_id
    for _ in range(3):
        store.create_key(new_record(project_id=project_id), quota=8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(_: int) -> None:
        try:
            store.create_key(new_record(project_id=project_id), quota=8)
            outcome = "created"
        except QuotaExceeded:
            outcome = "quota"
        with lock:
            outcomes.append(outcome)

    # When 16 creates race for the 5 places left
    errors = run_threads(THREADS, create)
    # Then exactly 5 win: a count-then-write would let more through
    assert errors == []
    assert sorted(outcomes) == ["created"] * 5 + ["quota"] * (THREADS - 5)
    assert store.count_keys(project_id) == 8


def test_count_default_keys_counts_only_live_service_default_keys(
    store: KeyStore, new_record: RecordFactory
) -> None:
    # Given a project with two service default keys and two customer keys, one of them a tombstone
    project_id = new_record().project_id
    for service in ("obs", "evs"):
        store.create_key(new_record(key_alias=f"{service}/default", default_key_flag="1"))
    store.create_key(new_record())
    dead = new_record()
    store.create_key(dead)
    tombstone(store, dead)
    # When / Then only the default keys are counted, per project
    assert store.count_default_keys(project_id) == 2
    assert store.count_keys(project_id) == 3
    assert store.count_default_keys(OTHER_PROJECT) == 0
    store.create_key(new_record(project_id=OTHER_PROJECT, key_alias="obs/default", default_key_flag="1"))
    assert store.count_default_keys(OTHER_PROJECT) == 1
    assert store.count_default_keys(project_id) == 2
