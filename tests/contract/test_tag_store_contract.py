"""The TagStore contract: the tags of keys (spec §8, access-control.md §5), one value per tag key.

Every adapter (memory, SQLite, DynamoDB under moto) must pass all of it, the threaded tests on the
real engines (see tests/contract/conftest.py); the rules come from :mod:`skms.storage.port.tags`.
Adapter-specific checks (which items and indexes a lookup reads) follow at the end.
"""

from __future__ import annotations

import contextlib
import pathlib
import sqlite3
from typing import Any

import boto3
import pytest

from skms.storage.port import Stores, TagCondition, TagLimitExceeded, TagStore
from tests.contract.conftest import THREADS, run_threads

PROJECT = "p" * 32
OTHER_PROJECT = "q" * 32
KEY_A = "aaaaaaaa-0000-4000-8000-000000000001"
KEY_B = "bbbbbbbb-0000-4000-8000-000000000002"
KEY_C = "cccccccc-0000-4000-8000-000000000003"


@pytest.fixture
def tags(stores: Stores) -> TagStore:
    return stores.tags


def tag(store: TagStore, key_id: str, project_id: str = PROJECT, **values: str) -> dict[str, str]:
    return store.change_tags(project_id, key_id, put=values, max_tags=10)


def found(store: TagStore, *conditions: TagCondition, project_id: str = PROJECT) -> list[str]:
    matches = store.find_keys(project_id, conditions)
    assert matches.total == len(matches.key_ids)
    return matches.key_ids


# -- a key's tags ---------------------------------------------------------------------------------


def test_a_key_without_tags_has_none(tags: TagStore) -> None:
    assert tags.get_tags(PROJECT, KEY_A) == {}


def test_tags_are_put_replaced_and_removed(tags: TagStore) -> None:
    assert tag(tags, KEY_A, env="prod", team="core") == {"env": "prod", "team": "core"}
    # a new value replaces the old one: one value per tag key
    assert tag(tags, KEY_A, env="test") == {"env": "test", "team": "core"}
    assert tags.change_tags(PROJECT, KEY_A, put={}, remove={"team", "absent"}, max_tags=10) == {"env": "test"}
    assert tags.get_tags(PROJECT, KEY_A) == {"env": "test"}


def test_a_key_in_both_put_and_remove_is_put(tags: TagStore) -> None:
    tag(tags, KEY_A, env="prod")
    assert tags.change_tags(PROJECT, KEY_A, put={"env": "dev"}, remove={"env"}, max_tags=10) == {"env": "dev"}


def test_tags_come_back_in_tag_key_order_and_keep_any_unicode(tags: TagStore) -> None:
    tag(tags, KEY_A, **{"zeta": "", "alpha": "a b/c#d", "标签": "值", "a#b": "x=y"})
    assert list(tags.get_tags(PROJECT, KEY_A).items()) == [
        ("a#b", "x=y"),
        ("alpha", "a b/c#d"),
        ("zeta", ""),
        ("标签", "值"),
    ]


def test_the_limit_counts_tag_keys_after_the_change_and_nothing_changes_beyond_it(tags: TagStore) -> None:
    tags.change_tags(PROJECT, KEY_A, put={f"k{i}": "v" for i in range(3)}, max_tags=3)
    # replacing a value or removing one to add another stays within the limit
    tags.change_tags(PROJECT, KEY_A, put={"k0": "w"}, max_tags=3)
    tags.change_tags(PROJECT, KEY_A, put={"k3": "v"}, remove={"k1"}, max_tags=3)
    with pytest.raises(TagLimitExceeded):
        tags.change_tags(PROJECT, KEY_A, put={"k4": "v"}, max_tags=3)
    assert tags.get_tags(PROJECT, KEY_A) == {"k0": "w", "k2": "v", "k3": "v"}
    assert found(tags, TagCondition("k4")) == []


def test_tags_are_per_project_and_per_key(tags: TagStore) -> None:
    tag(tags, KEY_A, env="prod")
    tag(tags, KEY_A, project_id=OTHER_PROJECT, env="other")
    assert tags.get_tags(PROJECT, KEY_A) == {"env": "prod"}
    assert tags.get_tags(OTHER_PROJECT, KEY_A) == {"env": "other"}
    assert tags.get_tags(PROJECT, KEY_B) == {}


def test_delete_tags_removes_them_from_every_lookup(tags: TagStore) -> None:
    tag(tags, KEY_A, env="prod", team="core")
    tag(tags, KEY_B, env="prod")
    tags.delete_tags(PROJECT, KEY_A)
    tags.delete_tags(PROJECT, KEY_C)  # none: nothing to do
    assert tags.get_tags(PROJECT, KEY_A) == {}
    assert found(tags, TagCondition("env")) == [KEY_B]
    assert found(tags) == [KEY_B]
    assert tags.project_tags(PROJECT) == {"env": ["prod"]}


# -- lookups by tag ------------------------------------------------------------------------------


@pytest.fixture
def tagged(tags: TagStore) -> TagStore:
    tag(tags, KEY_A, env="prod", team="core")
    tag(tags, KEY_B, env="test", team="core")
    tag(tags, KEY_C, env="prod")
    tag(tags, KEY_A, project_id=OTHER_PROJECT, env="prod", team="core")
    return tags


def test_conditions_are_anded_across_tag_keys(tagged: TagStore) -> None:
    assert found(tagged, TagCondition("env", ("prod",)), TagCondition("team", ("core",))) == [KEY_A]
    assert found(tagged, TagCondition("env", ("prod",)), TagCondition("team")) == [KEY_A]


def test_values_of_one_condition_are_ored_and_none_means_any(tagged: TagStore) -> None:
    assert found(tagged, TagCondition("env", ("prod", "test"))) == [KEY_A, KEY_B, KEY_C]
    assert found(tagged, TagCondition("env", ("prod",))) == [KEY_A, KEY_C]
    assert found(tagged, TagCondition("team")) == [KEY_A, KEY_B]
    assert found(tagged, TagCondition("env", ("staging",))) == []
    assert found(tagged, TagCondition("nothing")) == []


def test_no_condition_finds_every_tagged_key_of_the_project(tagged: TagStore) -> None:
    assert found(tagged) == [KEY_A, KEY_B, KEY_C]
    assert found(tagged, project_id=OTHER_PROJECT) == [KEY_A]
    assert found(tagged, project_id="r" * 32) == []


def test_a_value_is_matched_exactly_not_as_a_prefix(tags: TagStore) -> None:
    tag(tags, KEY_A, env="prod")
    tag(tags, KEY_B, env="production")
    tag(tags, KEY_C, env="")
    assert found(tags, TagCondition("env", ("prod",))) == [KEY_A]
    assert found(tags, TagCondition("env", ("",))) == [KEY_C]


def test_a_changed_value_moves_the_key_between_matches(tagged: TagStore) -> None:
    tag(tagged, KEY_C, env="test")
    assert found(tagged, TagCondition("env", ("prod",))) == [KEY_A]
    assert found(tagged, TagCondition("env", ("test",))) == [KEY_B, KEY_C]


def test_matches_are_paged_by_offset_and_limit_with_the_total(tags: TagStore) -> None:
    key_ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(7)]
    for key_id in reversed(key_ids):
        tag(tags, key_id, env="prod")
    condition = [TagCondition("env", ("prod",))]
    pages = [tags.find_keys(PROJECT, condition, offset=offset, limit=3) for offset in (0, 3, 6, 9)]
    assert [page.key_ids for page in pages] == [key_ids[0:3], key_ids[3:6], key_ids[6:], []]
    assert {page.total for page in pages} == {7}


def test_a_page_of_several_values_is_in_key_id_order_across_them(tags: TagStore) -> None:
    key_ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(9)]
    for index, key_id in enumerate(key_ids):  # values interleave along the key-id order
        tag(tags, key_id, env=("prod", "test", "dev")[index % 3])
    condition = [TagCondition("env", ("test", "prod", "prod"))]  # a repeated value counts once
    matching = [key_id for index, key_id in enumerate(key_ids) if index % 3 != 2]
    pages = [tags.find_keys(PROJECT, condition, offset=offset, limit=4) for offset in (0, 4, 8)]
    assert [page.key_ids for page in pages] == [matching[0:4], matching[4:], []]
    assert {page.total for page in pages} == {len(matching)}
    assert tags.find_keys(PROJECT, condition).key_ids == matching


def test_project_tags_lists_every_tag_key_with_its_distinct_values(tagged: TagStore) -> None:
    assert tagged.project_tags(PROJECT) == {"env": ["prod", "test"], "team": ["core"]}
    tag(tagged, KEY_B, env="prod")  # "test" is carried by no key any more
    assert tagged.project_tags(PROJECT) == {"env": ["prod"], "team": ["core"]}
    assert tagged.project_tags("r" * 32) == {}


# -- concurrency ---------------------------------------------------------------------------------


def test_concurrent_changes_never_pass_the_limit_together(threaded_stores: Stores) -> None:
    store = threaded_stores.tags
    limit = 5

    def add(index: int) -> None:
        with contextlib.suppress(TagLimitExceeded):
            store.change_tags(PROJECT, KEY_A, put={f"k{index}": "v"}, max_tags=limit)

    assert run_threads(THREADS, add) == []
    assert len(store.get_tags(PROJECT, KEY_A)) == limit
    assert store.find_keys(PROJECT, []).key_ids == [KEY_A]
    assert sum(len(values) for values in store.project_tags(PROJECT).values()) == limit


def test_concurrent_changes_of_one_value_leave_exactly_one_match(threaded_stores: Stores) -> None:
    store = threaded_stores.tags
    assert (
        run_threads(THREADS, lambda i: store.change_tags(PROJECT, KEY_A, put={"env": f"v{i}"}, max_tags=10))
        == []
    )
    [value] = store.project_tags(PROJECT)["env"]
    assert store.get_tags(PROJECT, KEY_A) == {"env": value}
    assert store.find_keys(PROJECT, [TagCondition("env", (value,))]).key_ids == [KEY_A]


# -- adapter specifics ---------------------------------------------------------------------------


def test_sqlite_lookups_read_the_tag_index_not_the_keys(tmp_path: pathlib.Path) -> None:
    from skms.storage import sqlite as backend

    stores = backend.open_stores(tmp_path / "tags.sqlite3")
    tag(stores.tags, KEY_A, env="prod")
    conn = sqlite3.connect(tmp_path / "tags.sqlite3")
    try:
        plan = " ".join(
            row[3]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT key_id FROM key_tags INDEXED BY key_tags_by_tag"
                " WHERE project_id = ? AND tag_key = ? AND tag_value IN (?, ?)",
                (PROJECT, "env", "prod", "test"),
            )
        )
    finally:
        conn.close()
        stores.close()
    assert "key_tags_by_tag" in plan
    assert "keys" not in plan.replace("key_tags", "")


def test_dynamodb_items_are_tag_items_and_lookups_are_queries(dynamo_table: str) -> None:
    from skms.storage import dynamodb as backend

    client = boto3.client("dynamodb")
    calls: list[tuple[str, dict[str, Any]]] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.*",
        lambda params, model, **_: calls.append((model.name, params)),
    )
    store = backend.open_stores(dynamo_table, client).tags
    tag(store, KEY_A, env="prod", team="core")
    tag(store, KEY_B, env="prod")
    assert store.find_keys(PROJECT, [TagCondition("env", ("prod",)), TagCondition("team")]).key_ids == [KEY_A]
    assert store.project_tags(PROJECT) == {"env": ["prod"], "team": ["core"]}
    # every item lives in a TAG# partition
    items = boto3.client("dynamodb").scan(TableName=dynamo_table)["Items"]  # the test's own look
    assert items
    assert all(item["PK"]["S"].startswith("TAG#") for item in items)
    # and reads are GetItem and Query only, of TAG# partitions
    operations = {name for name, _ in calls}
    assert operations <= {"GetItem", "Query", "TransactWriteItems"}
    assert "Scan" not in operations
    for name, params in calls:
        if name == "Query":
            assert params["ExpressionAttributeValues"][":pk"]["S"].startswith("TAG#")


def test_a_limit_of_zero_counts_without_ids(tagged: TagStore) -> None:
    matches = tagged.find_keys(PROJECT, [TagCondition("env", ("prod",))], limit=0)
    assert (matches.key_ids, matches.total) == ([], 2)


def test_a_page_past_the_end_still_counts(tagged: TagStore) -> None:
    matches = tagged.find_keys(PROJECT, [TagCondition("team")], offset=5, limit=3)
    assert (matches.key_ids, matches.total) == ([], 2)


def test_conditions_in_any_order_find_the_same_keys(tagged: TagStore) -> None:
    conditions = [TagCondition("team"), TagCondition("env", ("prod", "test")), TagCondition("env", ("prod",))]
    forward = tagged.find_keys(PROJECT, conditions)
    backward = tagged.find_keys(PROJECT, list(reversed(conditions)))
    assert forward == backward
    assert forward.key_ids == [KEY_A]


def test_dynamodb_a_one_tag_page_reads_only_the_items_it_needs(dynamo_table: str) -> None:
    from skms.storage import dynamodb as backend

    client = boto3.client("dynamodb")
    read: list[int] = []
    client.meta.events.register(
        "after-call.dynamodb.Query", lambda parsed, **_: read.append(len(parsed.get("Items", [])))
    )
    store = backend.open_stores(dynamo_table, client).tags
    key_ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(30)]
    for key_id in key_ids:
        tag(store, key_id, env="prod")
    read.clear()
    page = store.find_keys(PROJECT, [TagCondition("env", ("prod",))], offset=2, limit=3)
    assert (page.key_ids, page.total) == (key_ids[2:5], 30)
    assert sum(read) == 5  # offset + limit index items, not the 30 that carry the tag
    read.clear()
    assert store.find_keys(PROJECT, [TagCondition("env", ("prod",))], limit=0).total == 30
    assert read == []  # the total comes from the counter alone
