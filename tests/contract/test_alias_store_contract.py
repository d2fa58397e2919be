"""The AliasStore contract: alias records (access-control.md §4), unique per domain, several per key.

Every adapter (memory, SQLite, DynamoDB under moto) must pass all of it, the threaded tests on the
real engines (see tests/contract/conftest.py); the rules come from :mod:`skms.storage.port.aliases`.
Adapter-specific checks (where the items live, which calls and indexes are used) follow at the end.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from skms.domain import AliasRecord, KeyRecord
from skms.errors import ConcurrentUpdate
from skms.storage.port import AliasExists, AliasNotFound, AliasStore, Stores
from skms.storage.sqlite import open_database, open_stores, stores_on
from tests.contract.conftest import THREADS, run_threads

AliasFactory = Callable[..., AliasRecord]  # the new_alias fixture (conftest.py)
RecordFactory = Callable[..., KeyRecord]
DOMAIN = "d" * 32
PROJECT = "p" * 32
OTHER_PROJECT = "q" * 32
KEY_A = "aaaaaaaa-0000-4000-8000-000000000001"
KEY_B = "bbbbbbbb-0000-4000-8000-000000000002"
LATER = 1_800_000_000_000


@pytest.fixture
def aliases(stores: Stores) -> AliasStore:
    return stores.aliases


def walk(list_page: Callable[[int, str | None], Any], limit: int) -> list[list[AliasRecord]]:
    """All pages of a listing, following cursors to the end."""
    pages: list[list[AliasRecord]] = []
    cursor = None
    while True:
        page = list_page(limit, cursor)
        pages.append(page.records)
        if page.next_cursor is None:
            return pages
        assert len(pages) < 1000, "cursor never ends"
        cursor = page.next_cursor


def key_aliases(
    store: AliasStore, key_id: str, limit: int = 2, project_id: str = PROJECT
) -> list[AliasRecord]:
    pages = walk(lambda size, cursor: store.list_key_aliases(project_id, key_id, size, cursor), limit)
    return [record for page in pages for record in page]


def project_aliases(store: AliasStore, project_id: str = PROJECT, limit: int = 2) -> list[AliasRecord]:
    pages = walk(lambda size, cursor: store.list_project_aliases(project_id, size, cursor), limit)
    return [record for page in pages for record in page]


# -- create and get ----------------------------------------------------------------------------


def test_create_then_get_round_trips_every_field(aliases: AliasStore, new_alias: AliasFactory) -> None:
    # Given an alias with every field distinguishable (a name with non-ASCII and '#')
    record = new_alias(
        alias="alias/名前#1:x_y-z", key_id=KEY_A, create_time=1_700_000_000_001, update_time=LATER
    )
    # When it is created and read back
    aliases.create_alias(record)
    fetched = aliases.get_alias(DOMAIN, record.alias)
    # Then it equals the original, with the original types
    assert fetched == record
    assert fetched is not None
    assert type(fetched.create_time) is int
    assert type(fetched.update_time) is int


def test_get_of_unknown_alias_or_other_domain_is_none(aliases: AliasStore, new_alias: AliasFactory) -> None:
    record = new_alias()
    aliases.create_alias(record)
    assert aliases.get_alias(DOMAIN, "alias/no-such-alias") is None
    assert aliases.get_alias("e" * 32, record.alias) is None
    assert aliases.get_alias(DOMAIN, record.alias.upper()) is None  # names are case-sensitive


def test_duplicate_alias_in_a_domain_raises_alias_exists_and_keeps_the_first(
    aliases: AliasStore, new_alias: AliasFactory
) -> None:
    # Given an alias of key A in one project
    first = new_alias(alias="alias/taken", key_id=KEY_A)
    aliases.create_alias(first)
    # When the same name is created in the domain for another key, even of another project
    for second in (
        new_alias(alias="alias/taken", key_id=KEY_B),
        new_alias(alias="alias/taken", project_id=OTHER_PROJECT),
    ):
        with pytest.raises(AliasExists):
            aliases.create_alias(second)
    # Then the first stays, and no listing holds the refused ones
    assert aliases.get_alias(DOMAIN, "alias/taken") == first
    assert key_aliases(aliases, KEY_B) == []
    assert project_aliases(aliases, OTHER_PROJECT) == []


def test_same_alias_in_two_domains_is_allowed(aliases: AliasStore, new_alias: AliasFactory) -> None:
    mine = new_alias(alias="alias/shared", domain_id="d1")
    theirs = new_alias(alias="alias/shared", domain_id="d2", project_id=OTHER_PROJECT)
    aliases.create_alias(mine)
    aliases.create_alias(theirs)
    assert aliases.get_alias("d1", "alias/shared") == mine
    assert aliases.get_alias("d2", "alias/shared") == theirs


# -- listings --------------------------------------------------------------------------------


def _populate(aliases: AliasStore, new_alias: AliasFactory) -> dict[str, list[AliasRecord]]:
    """Aliases of key A and key B of PROJECT, and of a key of OTHER_PROJECT, created out of name
    order; returned by group in name order."""
    groups: dict[str, list[AliasRecord]] = {"A": [], "B": [], "other": []}
    for index in (5, 1, 4, 0, 3, 2, 6):
        record = new_alias(alias=f"alias/a-{index}", key_id=KEY_A)
        aliases.create_alias(record)
        groups["A"].append(record)
    for index in (2, 0, 1):
        record = new_alias(alias=f"alias/b-{index}", key_id=KEY_B)
        aliases.create_alias(record)
        groups["B"].append(record)
    other = new_alias(alias="alias/a-7", key_id=KEY_A, project_id=OTHER_PROJECT)  # same key id elsewhere
    aliases.create_alias(other)
    groups["other"].append(other)
    for records in groups.values():
        records.sort(key=lambda record: record.alias)
    return groups


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 10])
def test_key_alias_pages_walk_the_keys_aliases_once_in_name_order(
    aliases: AliasStore, new_alias: AliasFactory, limit: int
) -> None:
    groups = _populate(aliases, new_alias)
    pages = walk(lambda size, cursor: aliases.list_key_aliases(PROJECT, KEY_A, size, cursor), limit)
    # Then every page but the last is full, and the pages join to the key's aliases in name order
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit
    assert [record for page in pages for record in page] == groups["A"]
    assert key_aliases(aliases, KEY_B, limit) == groups["B"]
    assert key_aliases(aliases, KEY_A, limit, project_id=OTHER_PROJECT) == groups["other"]


@pytest.mark.parametrize("limit", [1, 2, 5, 11])
def test_project_alias_pages_walk_every_alias_of_the_project_in_name_order(
    aliases: AliasStore, new_alias: AliasFactory, limit: int
) -> None:
    groups = _populate(aliases, new_alias)
    assert project_aliases(aliases, PROJECT, limit) == sorted(
        groups["A"] + groups["B"], key=lambda r: r.alias
    )
    assert project_aliases(aliases, OTHER_PROJECT, limit) == groups["other"]


def test_last_page_has_no_cursor_when_the_count_is_a_multiple_of_the_limit(
    aliases: AliasStore, new_alias: AliasFactory
) -> None:
    for index in range(4):
        aliases.create_alias(new_alias(alias=f"alias/x-{index}", key_id=KEY_A))
    pages = walk(lambda size, cursor: aliases.list_key_aliases(PROJECT, KEY_A, size, cursor), 2)
    assert [len(page) for page in pages] == [2, 2]
    pages = walk(lambda size, cursor: aliases.list_project_aliases(PROJECT, size, cursor), 4)
    assert [len(page) for page in pages] == [4]


def test_listings_of_nothing_are_one_empty_page(aliases: AliasStore, new_alias: AliasFactory) -> None:
    aliases.create_alias(new_alias(key_id=KEY_A))
    for page in (
        aliases.list_key_aliases(PROJECT, KEY_B, 10),
        aliases.list_project_aliases(OTHER_PROJECT, 10),
    ):
        assert page.records == []
        assert page.next_cursor is None


def test_listings_reject_a_malformed_cursor_and_a_limit_below_one(
    aliases: AliasStore, new_alias: AliasFactory
) -> None:
    aliases.create_alias(new_alias(key_id=KEY_A))
    # (malformed in every adapter's scheme: cursors are opaque, and each adapter has its own)
    for cursor in ("", "!!!", "not base64 at all", "=" * 8, "%00", "\u00e9", "_w"):
        with pytest.raises(ValueError):
            aliases.list_key_aliases(PROJECT, KEY_A, 5, cursor)
        with pytest.raises(ValueError):
            aliases.list_project_aliases(PROJECT, 5, cursor)
    for limit in (0, -1):
        with pytest.raises(ValueError):
            aliases.list_key_aliases(PROJECT, KEY_A, limit)
        with pytest.raises(ValueError):
            aliases.list_project_aliases(PROJECT, limit)


def test_a_cursor_is_refused_by_any_other_listing(aliases: AliasStore, new_alias: AliasFactory) -> None:
    # Given aliases of two keys and of another project, and a cursor of each kind of listing
    for key_id in (KEY_A, KEY_B):
        for index in range(3):
            aliases.create_alias(new_alias(alias=f"alias/{key_id[:1]}-{index}", key_id=key_id))
    for index in range(3):
        aliases.create_alias(new_alias(alias=f"alias/o-{index}", key_id=KEY_A, project_id=OTHER_PROJECT))
    key_cursor = aliases.list_key_aliases(PROJECT, KEY_A, 1).next_cursor
    project_cursor = aliases.list_project_aliases(PROJECT, 1).next_cursor
    assert key_cursor is not None
    assert project_cursor is not None
    # When / Then another project's, another key's or the other kind of listing refuses them
    refusals: list[Callable[[], object]] = [
        lambda: aliases.list_project_aliases(OTHER_PROJECT, 5, project_cursor),
        lambda: aliases.list_key_aliases(OTHER_PROJECT, KEY_A, 5, key_cursor),
        lambda: aliases.list_key_aliases(PROJECT, KEY_B, 5, key_cursor),
        lambda: aliases.list_key_aliases(PROJECT, KEY_A, 5, project_cursor),
        lambda: aliases.list_project_aliases(PROJECT, 5, key_cursor),
    ]
    for refused in refusals:
        with pytest.raises(ValueError):
            refused()
    # And the listings they were issued by accept them
    assert len(aliases.list_key_aliases(PROJECT, KEY_A, 5, key_cursor).records) == 2
    assert len(aliases.list_project_aliases(PROJECT, 5, project_cursor).records) == 5


def test_a_cursor_stays_valid_after_its_alias_is_deleted_or_moved(
    aliases: AliasStore, new_alias: AliasFactory
) -> None:
    # Given a first page of two of key A's four aliases
    records = [new_alias(alias=f"alias/c-{index}", key_id=KEY_A) for index in range(4)]
    for record in records:
        aliases.create_alias(record)
    first = aliases.list_key_aliases(PROJECT, KEY_A, 2)
    project_first = aliases.list_project_aliases(PROJECT, 2)
    assert first.records == records[:2]
    assert first.next_cursor is not None
    assert project_first.next_cursor is not None
    # When the page's last alias is deleted, and a new alias sorting before the cursor is created
    aliases.delete_alias(DOMAIN, records[1].alias, key_id=KEY_A)
    aliases.create_alias(new_alias(alias="alias/a-before", key_id=KEY_A))
    # Then the next pages from the cursor hold exactly the aliases after it
    rest = aliases.list_key_aliases(PROJECT, KEY_A, 10, first.next_cursor)
    assert rest.records == records[2:]
    assert aliases.list_project_aliases(PROJECT, 10, project_first.next_cursor).records == records[2:]


# -- delete ---------------------------------------------------------------------------------


def test_delete_removes_the_alias_everywhere_and_frees_its_name(
    aliases: AliasStore, new_alias: AliasFactory
) -> None:
    kept = new_alias(alias="alias/kept", key_id=KEY_A)
    doomed = new_alias(alias="alias/doomed", key_id=KEY_A)
    aliases.create_alias(kept)
    aliases.create_alias(doomed)
    # When one is deleted, Then the deleted record comes back and it is gone from reads and listings
    assert aliases.delete_alias(DOMAIN, "alias/doomed", key_id=KEY_A) == doomed
    assert aliases.get_alias(DOMAIN, "alias/doomed") is None
    assert key_aliases(aliases, KEY_A) == [kept]
    assert project_aliases(aliases) == [kept]
    # And the name can be taken again, by another key
    again = new_alias(alias="alias/doomed", key_id=KEY_B)
    aliases.create_alias(again)
    assert aliases.get_alias(DOMAIN, "alias/doomed") == again


def test_delete_of_an_absent_alias_or_of_another_keys_alias_raises_and_changes_nothing(
    aliases: AliasStore, new_alias: AliasFactory
) -> None:
    record = new_alias(alias="alias/mine", key_id=KEY_A)
    aliases.create_alias(record)
    with pytest.raises(AliasNotFound):
        aliases.delete_alias(DOMAIN, "alias/mine", key_id=KEY_B)
    with pytest.raises(AliasNotFound):
        aliases.delete_alias("e" * 32, "alias/mine", key_id=KEY_A)
    with pytest.raises(AliasNotFound):
        aliases.delete_alias(DOMAIN, "alias/never", key_id=KEY_A)
    assert aliases.get_alias(DOMAIN, "alias/mine") == record
    assert key_aliases(aliases, KEY_A) == [record]


# -- move (associate) -------------------------------------------------------------------------


def test_move_points_the_alias_at_another_key_and_keeps_its_creation(
    aliases: AliasStore, new_alias: AliasFactory
) -> None:
    record = new_alias(alias="alias/moving", key_id=KEY_A)
    aliases.create_alias(record)
    # When it is moved to key B
    moved = aliases.move_alias(record, to_key_id=KEY_B, update_time=LATER)
    # Then it points at key B from now on, with the new update time and the old creation time
    expected = dataclasses.replace(record, key_id=KEY_B, update_time=LATER)
    assert moved == expected
    assert aliases.get_alias(DOMAIN, "alias/moving") == expected
    assert key_aliases(aliases, KEY_A) == []
    assert key_aliases(aliases, KEY_B) == [expected]
    assert project_aliases(aliases) == [expected]


def test_a_move_from_a_stale_read_raises_concurrent_update_and_changes_nothing(
    aliases: AliasStore, new_alias: AliasFactory
) -> None:
    # Given two callers that read the alias while it pointed at key A
    record = new_alias(alias="alias/raced", key_id=KEY_A)
    aliases.create_alias(record)
    read_one = aliases.get_alias(DOMAIN, record.alias)
    read_two = aliases.get_alias(DOMAIN, record.alias)
    assert read_one is not None
    assert read_two is not None
    # When the first moves it to key B, then the second, from its read, to key A's other neighbour
    first = aliases.move_alias(read_one, to_key_id=KEY_B, update_time=LATER)
    with pytest.raises(ConcurrentUpdate):
        aliases.move_alias(read_two, to_key_id="cccccccc-0000-4000-8000-000000000003", update_time=LATER + 1)
    # Then the first move stands: no update was lost
    assert aliases.get_alias(DOMAIN, record.alias) == first
    assert key_aliases(aliases, KEY_B) == [first]
    assert key_aliases(aliases, "cccccccc-0000-4000-8000-000000000003") == []


def test_a_move_of_a_deleted_alias_raises_alias_not_found_and_creates_nothing(
    aliases: AliasStore, new_alias: AliasFactory
) -> None:
    record = new_alias(alias="alias/gone", key_id=KEY_A)
    aliases.create_alias(record)
    aliases.delete_alias(DOMAIN, record.alias, key_id=KEY_A)
    with pytest.raises(AliasNotFound):
        aliases.move_alias(record, to_key_id=KEY_B, update_time=LATER)
    assert aliases.get_alias(DOMAIN, record.alias) is None
    assert key_aliases(aliases, KEY_B) == []


def test_a_move_is_conditional_on_the_project_of_the_read(
    aliases: AliasStore, new_alias: AliasFactory
) -> None:
    record = new_alias(alias="alias/projected", key_id=KEY_A)
    aliases.create_alias(record)
    forged = dataclasses.replace(record, project_id=OTHER_PROJECT)
    with pytest.raises(ConcurrentUpdate):
        aliases.move_alias(forged, to_key_id=KEY_B, update_time=LATER)
    assert aliases.get_alias(DOMAIN, record.alias) == record


# -- alias records and keys do not mix ---------------------------------------------------------------


def test_alias_records_leave_the_keys_and_their_key_alias_alone(
    stores: Stores, new_alias: AliasFactory, new_record: RecordFactory
) -> None:
    # Given a key whose key_alias is also the name of an alias record pointing at it, in the same project
    key = new_record(project_id=PROJECT, key_alias="alias/same-name")
    stores.keys.create_key(key)
    record = new_alias(alias="alias/same-name", key_id=key.key_id)
    stores.aliases.create_alias(record)
    # When more alias records come and go, and the key is renamed
    stores.aliases.create_alias(new_alias(alias="alias/other", key_id=key.key_id))
    stores.aliases.move_alias(record, to_key_id=KEY_B, update_time=LATER)
    renamed = stores.keys.update_key(key.replace(key_alias="renamed"), key.revision)
    # Then the key store sees the key alone: listed, counted and found by its own key_alias
    assert stores.keys.list_keys(PROJECT, 100).records == [renamed]
    assert stores.keys.count_keys(PROJECT) == 1
    assert stores.keys.get_key_by_alias(PROJECT, "renamed") == renamed
    assert stores.keys.get_key_by_alias(PROJECT, "alias/same-name") is None
    assert stores.keys.due_for_deletion(LATER * 10, 100) == []
    # And the alias records are where they were put
    assert [r.alias for r in key_aliases(stores.aliases, key.key_id)] == ["alias/other"]
    assert [r.alias for r in key_aliases(stores.aliases, KEY_B)] == ["alias/same-name"]


# -- concurrency -------------------------------------------------------------------------------


@pytest.fixture
def threaded_aliases(threaded_stores: Stores) -> AliasStore:
    return threaded_stores.aliases


def test_concurrent_creates_of_one_alias_have_one_winner(
    threaded_aliases: AliasStore, new_alias: AliasFactory
) -> None:
    contenders = [new_alias(alias="alias/contended", key_id=f"key-{index}") for index in range(THREADS)]
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(index: int) -> None:
        try:
            threaded_aliases.create_alias(contenders[index])
            outcome = f"created:{index}"
        except AliasExists:
            outcome = "exists"
        with lock:
            outcomes.append(outcome)

    assert run_threads(THREADS, create) == []
    created = [outcome for outcome in outcomes if outcome.startswith("created:")]
    assert len(created) == 1
    assert threaded_aliases.get_alias(DOMAIN, "alias/contended") == contenders[int(created[0].split(":")[1])]


def test_concurrent_moves_from_one_read_have_one_winner(
    threaded_aliases: AliasStore, new_alias: AliasFactory
) -> None:
    record = new_alias(alias="alias/pulled", key_id=KEY_A)
    threaded_aliases.create_alias(record)
    winners: list[int] = []
    lock = threading.Lock()

    def move(index: int) -> None:
        try:
            threaded_aliases.move_alias(record, to_key_id=f"key-{index}", update_time=LATER + index)
        except ConcurrentUpdate:
            return
        with lock:
            winners.append(index)

    assert run_threads(THREADS, move) == []
    assert len(winners) == 1
    stored = threaded_aliases.get_alias(DOMAIN, "alias/pulled")
    assert stored == dataclasses.replace(record, key_id=f"key-{winners[0]}", update_time=LATER + winners[0])


# -- SQLite only -------------------------------------------------------------------------------


def test_sqlite_file_without_the_aliases_table_gets_it_when_opened(
    tmp_path: pathlib.Path, new_alias: AliasFactory, new_record: RecordFactory
) -> None:
    # Given a file of an earlier version: a key, and no aliases table or indexes
    path = tmp_path / "old.sqlite3"
    stores = open_stores(path)
    key = new_record(project_id=PROJECT)
    stores.keys.create_key(key)
    stores.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE aliases")
    conn.close()
    # When the current version opens it and aliases are written
    stores = open_stores(path)
    record = new_alias(key_id=key.key_id)
    stores.aliases.create_alias(record)
    stores.close()
    # Then after a restart the key and the alias are there, in a sound file
    database = open_database(path)
    reopened = stores_on(database)
    assert reopened.keys.get_key(PROJECT, key.key_id) == key
    assert reopened.aliases.get_alias(DOMAIN, record.alias) == record
    assert database.check_integrity() == []
    reopened.close()


def test_sqlite_alias_listings_are_index_searches(tmp_path: pathlib.Path) -> None:
    database = open_database(tmp_path / "plan.sqlite3")
    conn = database.connection()
    page = "alias > ? ORDER BY alias LIMIT ?"
    queries = {
        f"SELECT * FROM aliases WHERE project_id = ? AND key_id = ? AND {page}": "aliases_key",
        f"SELECT * FROM aliases WHERE project_id = ? AND {page}": "aliases_project",
    }
    for sql, index in queries.items():
        params = (1,) * sql.count("?")
        plan = " | ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert f"SEARCH aliases USING INDEX {index}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    database.close()


# -- DynamoDB only -----------------------------------------------------------------------------


@pytest.fixture
def dynamo_client(dynamo_table: str) -> Any:
    return boto3.client("dynamodb")


@pytest.fixture
def dynamo_aliases(dynamo_table: str, dynamo_client: Any) -> AliasStore:
    from skms.storage import dynamodb

    return dynamodb.open_stores(dynamo_table, client=dynamo_client).aliases


def _b64url(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_dynamodb_alias_items_use_the_documented_keys(
    dynamo_aliases: AliasStore, dynamo_client: Any, dynamo_table: str, new_alias: AliasFactory
) -> None:
    record = new_alias(alias="alias/laid-out", key_id=KEY_A)
    dynamo_aliases.create_alias(record)
    key = {"PK": {"S": f"ALIAS#{DOMAIN}"}, "SK": {"S": "A#alias/laid-out"}}
    item = dynamo_client.get_item(TableName=dynamo_table, Key=key)["Item"]
    assert item["GSI1PK"] == {"S": f"ALIAS#{_b64url(PROJECT)}#{_b64url(KEY_A)}"}
    assert item["GSI1SK"] == {"S": "alias/laid-out"}
    assert item["GSI2PK"] == {"S": f"ALIAS#{PROJECT}"}
    assert item["GSI2SK"] == {"S": "alias/laid-out"}
    assert item["key_id"] == {"S": KEY_A}
    assert item["create_time"] == {"N": str(record.create_time)}
    # When it moves, Then its key's index partition follows, its project's does not
    dynamo_aliases.move_alias(record, to_key_id=KEY_B, update_time=LATER)
    moved = dynamo_client.get_item(TableName=dynamo_table, Key=key)["Item"]
    assert moved["GSI1PK"] == {"S": f"ALIAS#{_b64url(PROJECT)}#{_b64url(KEY_B)}"}
    assert moved["GSI2PK"] == item["GSI2PK"]
    assert moved["update_time"] == {"N": str(LATER)}


def test_dynamodb_alias_operations_are_single_item_calls_and_index_queries(
    dynamo_aliases: AliasStore, dynamo_client: Any, new_alias: AliasFactory
) -> None:
    calls: list[str] = []
    queries: list[dict[str, Any]] = []
    dynamo_client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    dynamo_client.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: queries.append(dict(params))
    )
    record = new_alias(key_id=KEY_A)
    dynamo_aliases.create_alias(record)
    with pytest.raises(AliasExists):
        dynamo_aliases.create_alias(record)
    dynamo_aliases.get_alias(DOMAIN, record.alias)
    moved = dynamo_aliases.move_alias(record, to_key_id=KEY_B, update_time=LATER)
    key_aliases(dynamo_aliases, KEY_B)
    project_aliases(dynamo_aliases)
    dynamo_aliases.delete_alias(DOMAIN, moved.alias, key_id=KEY_B)
    # Then only single-item writes and reads, and Queries of GSI1 / GSI2, were used: no scan
    assert calls == ["PutItem", "PutItem", "GetItem", "UpdateItem", "Query", "Query", "DeleteItem"]
    assert [query["IndexName"] for query in queries] == ["GSI1", "GSI2"]


def test_dynamodb_cursor_of_a_real_page_is_accepted_and_a_forged_one_refused(
    dynamo_aliases: AliasStore, new_alias: AliasFactory
) -> None:
    for index in range(3):
        dynamo_aliases.create_alias(new_alias(alias=f"alias/p-{index}", key_id=KEY_A))
    page = dynamo_aliases.list_key_aliases(PROJECT, KEY_A, 1)
    assert page.next_cursor is not None
    assert len(dynamo_aliases.list_key_aliases(PROJECT, KEY_A, 5, page.next_cursor).records) == 2
    forged = _b64url('["", ""]')
    with pytest.raises(ValueError):
        dynamo_aliases.list_key_aliases(PROJECT, KEY_A, 5, forged)
    with pytest.raises(ValueError):
        dynamo_aliases.list_project_aliases(PROJECT, 5, _b64url('{"PK": "x"}'))
