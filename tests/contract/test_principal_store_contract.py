"""The PrincipalStore contract: access keys and users, and how they live beside the other record
kinds of one backend (the service state, keys).

Every adapter (memory, SQLite, DynamoDB under moto) must pass all of it; the rules come from the
docstrings of :mod:`skms.storage.port`. Adapter-specific checks (where the items live) follow at
the end.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, cast

import boto3
import pytest

from skms.domain import AccessKeyRecord, KeyRecord, PolicyRecord, ProjectClaim, UserRecord
from skms.storage.port import PrincipalExists, Stores
from skms.storage.sqlite import open_database, open_stores, stores_on
from tests.contract.conftest import THREADS, run_threads

# the record factories of conftest.py
RecordFactory = Callable[..., KeyRecord]
AccessKeyFactory = Callable[..., AccessKeyRecord]
UserFactory = Callable[..., UserRecord]

SECRET_NAME = "token-signing-key"


# -- access keys -------------------------------------------------------------------------------


def _full_access_key(new_access_key: AccessKeyFactory) -> AccessKeyRecord:
    return new_access_key(
        secret_wrapped=bytes(range(256)) + b"\x00\xff",
        domain_id="domain-Ω-1",
        project_ids=("p3", "p1", "p2"),  # not sorted: the order is kept
        enabled=False,
        created_at=1_712_345_678_901,
        description="描述 with 'quotes', \"double\", # and / and \n newline ✓",
    )


def _sparse_access_key(new_access_key: AccessKeyFactory) -> AccessKeyRecord:
    return new_access_key(project_ids=(), description="", enabled=True, created_at=0)


@pytest.mark.parametrize(
    "build", [_full_access_key, _sparse_access_key], ids=["every-field-set", "empty-and-defaults"]
)
def test_access_key_round_trips_every_field(
    stores: Stores,
    new_access_key: AccessKeyFactory,
    build: Callable[[AccessKeyFactory], AccessKeyRecord],
) -> None:
    # Given an access key record with every field chosen to be distinguishable from its default
    record = build(new_access_key)
    # When it is created and read back
    stores.principals.create_access_key(record)
    fetched = stores.principals.get_access_key(record.access_key)
    # Then it equals the original field by field, with the original types
    assert fetched == record
    assert fetched is not None
    assert type(fetched.secret_wrapped) is bytes
    assert type(fetched.project_ids) is tuple
    assert type(fetched.enabled) is bool
    assert type(fetched.created_at) is int


def test_get_of_unknown_access_key_or_user_is_none(
    stores: Stores, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given a store holding one access key and one user
    access_key = new_access_key()
    user = new_user()
    stores.principals.create_access_key(access_key)
    stores.principals.create_user(user)
    # When / Then unknown ids and names read as None, and so does a known name in another domain
    assert stores.principals.get_access_key("NO-SUCH-ACCESS-KEY") is None
    assert stores.principals.get_access_key(access_key.access_key.lower()) is None
    assert stores.principals.get_user(user.domain_name, "no-such-user") is None
    assert stores.principals.get_user("other-domain", user.name) is None


def test_duplicate_access_key_raises_principal_exists_and_keeps_the_first(
    stores: Stores, new_access_key: AccessKeyFactory
) -> None:
    # Given a stored access key
    first = new_access_key(description="first")
    stores.principals.create_access_key(first)
    # When another record with the same access key id is created
    second = new_access_key(access_key=first.access_key, secret_wrapped=b"second", description="second")
    with pytest.raises(PrincipalExists):
        stores.principals.create_access_key(second)
    # Then the first record is unchanged
    assert stores.principals.get_access_key(first.access_key) == first


# -- users -------------------------------------------------------------------------------------


def _full_user(new_user: UserFactory) -> UserRecord:
    return new_user(
        name="Zoë/ops#1",
        domain_id="domain-Ω-1",
        domain_name="Acme 株式会社",
        password_hash="scrypt$16384$8$1$c2FsdA==$aGFzaA==",
        project_ids=("p2", "p1"),
        enabled=False,
        created_at=1_712_345_678_901,
    )


def _sparse_user(new_user: UserFactory) -> UserRecord:
    return new_user(project_ids=(), enabled=True, created_at=0)


@pytest.mark.parametrize("build", [_full_user, _sparse_user], ids=["every-field-set", "empty-and-defaults"])
def test_user_round_trips_every_field(
    stores: Stores, new_user: UserFactory, build: Callable[[UserFactory], UserRecord]
) -> None:
    # Given a user record with every field chosen to be distinguishable from its default
    record = build(new_user)
    # When it is created and read back by (domain_name, name)
    stores.principals.create_user(record)
    fetched = stores.principals.get_user(record.domain_name, record.name)
    # Then it equals the original field by field, with the original types
    assert fetched == record
    assert fetched is not None
    assert type(fetched.project_ids) is tuple
    assert type(fetched.enabled) is bool


def test_same_user_name_in_two_domains_is_allowed(stores: Stores, new_user: UserFactory) -> None:
    # Given a user "alice" in one domain
    mine = new_user(name="alice", domain_name="domain-a", domain_id="a" * 32)
    stores.principals.create_user(mine)
    # When another domain creates its own "alice"
    theirs = new_user(name="alice", domain_name="domain-b", domain_id="b" * 32)
    stores.principals.create_user(theirs)
    # Then each domain resolves "alice" to its own user
    assert stores.principals.get_user("domain-a", "alice") == mine
    assert stores.principals.get_user("domain-b", "alice") == theirs


def test_duplicate_user_in_a_domain_raises_principal_exists_and_keeps_the_first(
    stores: Stores, new_user: UserFactory
) -> None:
    # Given a stored user
    first = new_user(name="bob")
    stores.principals.create_user(first)
    # When another user with the same (domain_name, name) but other fields is created
    second = new_user(name="bob", password_hash="another-hash", project_ids=("x",))
    with pytest.raises(PrincipalExists):
        stores.principals.create_user(second)
    # Then the first user is unchanged
    assert stores.principals.get_user(first.domain_name, "bob") == first


# Pairs of (domain_name, name) that a naive "join with a separator" would map to one string.
COLLIDING_NAMES = [
    (("a#b", "c"), ("a", "b#c")),
    (("a/b", "c"), ("a", "b/c")),
    (("a\x1fb", "c"), ("a", "b\x1fc")),  # the unit separator
    (("a\x00b", "c"), ("a", "b\x00c")),
    (("a:b", "c"), ("a", "b:c")),
    (("域#名", "用户"), ("域", "名#用户")),
    (("a#", "b"), ("a", "#b")),
    (("USER#a", "b"), ("USER", "a#b")),
    (("", "a#b"), ("a#b", "")),
]


def test_user_names_with_separator_characters_do_not_collide(stores: Stores, new_user: UserFactory) -> None:
    # Given pairs of users whose domain names or names contain separator-like characters
    users: dict[tuple[str, str], UserRecord] = {}
    # When both users of every pair are created (a collision would raise PrincipalExists)
    for pair in COLLIDING_NAMES:
        for domain_name, name in pair:
            record = new_user(domain_name=domain_name, name=name)
            stores.principals.create_user(record)
            users[(domain_name, name)] = record
    assert len(users) == 2 * len(COLLIDING_NAMES)
    # Then each resolves to itself
    for (domain_name, name), record in users.items():
        assert stores.principals.get_user(domain_name, name) == record, (domain_name, name)
    # And mixing the domain of one with the name of the other finds nobody
    for one, two in COLLIDING_NAMES:
        assert stores.principals.get_user(one[0], two[1]) is None, (one, two)
        assert stores.principals.get_user(two[0], one[1]) is None, (one, two)


# -- kinds and keys do not mix ---------------------------------------------------------------------


def test_item_kinds_sharing_one_id_do_not_collide(
    stores: Stores, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given an access key, a user (domain and name) and a secret all named "shared"
    access_key = new_access_key(access_key="shared")
    user = new_user(domain_name="shared", name="shared")
    stores.principals.create_access_key(access_key)
    stores.principals.create_user(user)
    secret = stores.service_state.get_or_create_secret("shared", b"secret-value")
    # When / Then each is stored and read as its own kind
    assert secret == b"secret-value"
    assert stores.principals.get_access_key("shared") == access_key
    assert stores.principals.get_user("shared", "shared") == user
    assert stores.service_state.get_or_create_secret("shared", b"other") == b"secret-value"


def test_principals_are_not_keys_and_key_operations_leave_them_alone(
    stores: Stores, new_record: RecordFactory, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given principals and a secret whose ids look like project ids and key ids
    project_id = "p" * 32
    access_key = new_access_key(access_key=project_id, project_ids=(project_id,))
    user = new_user(domain_name=project_id, name=project_id, project_ids=(project_id,))
    stores.principals.create_access_key(access_key)
    stores.principals.create_user(user)
    stores.service_state.get_or_create_secret(project_id, b"secret")
    # When keys of the project are created, updated and renamed
    record = new_record(project_id=project_id, key_alias=project_id)
    stores.keys.create_key(record)
    renamed = stores.keys.update_key(
        record.replace(key_alias="renamed", key_description="d"), record.revision
    )
    other = new_record(project_id=project_id)
    stores.keys.create_key(other)
    # Then listings and counts of every project hold the keys only
    assert stores.keys.list_keys(project_id, 100).records == [renamed, other]
    assert stores.keys.count_keys(project_id) == 2
    candidates = {
        access_key.access_key,
        access_key.domain_id,
        user.domain_name,
        user.domain_id,
        user.name,
        "",
        "AK",
        "USER",
        "SYS",
        "SECRET",
    } - {project_id}
    for candidate in candidates:
        assert stores.keys.list_keys(candidate, 100).records == []
        assert stores.keys.count_keys(candidate) == 0
    # And the principals and the secret are exactly as stored
    assert stores.principals.get_access_key(access_key.access_key) == access_key
    assert stores.principals.get_user(user.domain_name, user.name) == user
    assert stores.service_state.get_or_create_secret(project_id, b"other") == b"secret"
    # And no key can be found under a principal's id
    assert stores.keys.get_key(project_id, project_id) is None
    assert stores.keys.get_key_by_alias(project_id, project_id) is None


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_creates_of_one_access_key_have_one_winner(
    threaded_stores: Stores, new_access_key: AccessKeyFactory
) -> None:
    stores = threaded_stores
    # Given 16 records for one access key id, each with its own secret
    contenders = [
        new_access_key(access_key="RACEDACCESSKEY000000", secret_wrapped=bytes([i]) * 16)
        for i in range(THREADS)
    ]
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(index: int) -> None:
        try:
            stores.principals.create_access_key(contenders[index])
            outcome = f"created:{index}"
        except PrincipalExists:
            outcome = "exists"
        with lock:
            outcomes.append(outcome)

    # When they are created at the same time
    errors = run_threads(THREADS, create)
    # Then exactly one wins, and the stored record is the winner's
    assert errors == []
    created = [outcome for outcome in outcomes if outcome.startswith("created:")]
    assert len(created) == 1
    assert outcomes.count("exists") == THREADS - 1
    assert (
        stores.principals.get_access_key("RACEDACCESSKEY000000") == contenders[int(created[0].split(":")[1])]
    )


# -- SQLite only -------------------------------------------------------------------------------


def test_sqlite_principals_survive_reopen_and_are_added_to_an_older_file(
    tmp_path: pathlib.Path, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given a file written before principals existed (no principals table)
    path = tmp_path / "old.sqlite3"
    open_stores(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE principals")
    conn.close()
    # When it is opened by the current store and principals are written
    stores = open_stores(path)
    access_key, user = new_access_key(), new_user()
    stores.principals.create_access_key(access_key)
    stores.principals.create_user(user)
    stores.service_state.get_or_create_secret(SECRET_NAME, b"s")
    stores.close()
    # Then after a restart they are all still there, in a sound file
    database = open_database(path)
    reopened = stores_on(database)
    assert reopened.principals.get_access_key(access_key.access_key) == access_key
    assert reopened.principals.get_user(user.domain_name, user.name) == user
    assert reopened.service_state.get_or_create_secret(SECRET_NAME, b"t") == b"s"
    assert database.integrity_check() is True
    reopened.close()


# -- DynamoDB only -----------------------------------------------------------------------------


@pytest.fixture
def dynamo_client(dynamo_table: str) -> Any:
    """The client of ``dynamo_stores`` (created inside the mock, once the table exists)."""
    return boto3.client("dynamodb")


@pytest.fixture
def dynamo_stores(dynamo_table: str, dynamo_client: Any) -> Stores:
    from skms.storage import dynamodb

    return dynamodb.open_stores(dynamo_table, client=dynamo_client)


def test_dynamodb_principal_items_use_the_documented_keys(
    dynamo_stores: Stores, dynamo_table: str, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given an access key, a user with '#' in its names and a secret
    access_key = new_access_key(access_key="AKEXAMPLE")
    user = new_user(domain_name="a#b", name="c")
    dynamo_stores.principals.create_access_key(access_key)
    dynamo_stores.principals.create_user(user)
    dynamo_stores.service_state.get_or_create_secret("token", b"\x01\x02")
    # When the table is read directly, Then the items sit under the documented keys, natively typed
    client = boto3.client("dynamodb")

    def item(pk: str, sk: str) -> dict[str, Any]:
        found = client.get_item(TableName=dynamo_table, Key={"PK": {"S": pk}, "SK": {"S": sk}})
        return cast(dict[str, Any], found["Item"])

    ak_item = item("AK#AKEXAMPLE", "AK")
    assert ak_item["secret_wrapped"] == {"B": access_key.secret_wrapped}
    assert ak_item["project_ids"] == {"L": [{"S": "p" * 32}]}
    user_item = item("USER#YSNi#Yw", "USER")  # base64url("a#b") + "#" + base64url("c"), unpadded
    assert user_item["name"] == {"S": "c"}
    assert item("SYS#token", "SECRET")["value"] == {"B": b"\x01\x02"}
    # And none of them is on the key-listing index
    for found in (ak_item, user_item):
        assert "GSI1PK" not in found


def test_dynamodb_principal_operations_use_single_item_calls_only(
    dynamo_stores: Stores, dynamo_client: Any, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given a recorder of every DynamoDB operation the adapter calls
    calls: list[str] = []
    client = dynamo_client
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    access_key, user = new_access_key(), new_user()
    # When principals and a secret are created (twice) and read
    dynamo_stores.principals.create_access_key(access_key)
    with pytest.raises(PrincipalExists):
        dynamo_stores.principals.create_access_key(access_key)
    dynamo_stores.principals.create_user(user)
    with pytest.raises(PrincipalExists):
        dynamo_stores.principals.create_user(user)
    dynamo_stores.principals.get_access_key(access_key.access_key)
    dynamo_stores.principals.get_user(user.domain_name, user.name)
    dynamo_stores.service_state.get_or_create_secret(SECRET_NAME, b"one")
    dynamo_stores.service_state.get_or_create_secret(SECRET_NAME, b"two")
    # Then only single-item calls and transactions were used (a record, its listing item and a
    # user's index by id: one transaction, after the create-if-absent of the domain's listing
    # partition): no scan, no query
    assert calls == ["PutItem", "TransactWriteItems"] * 4 + ["GetItem"] * 2 + [
        "PutItem",
        "PutItem",
        "GetItem",
    ]


# -- the credential lifecycle: versions, deletes, users by id, listings ------------------------


def test_access_key_replace_needs_the_version_read(stores: Stores, new_access_key: AccessKeyFactory) -> None:
    # Given a stored access key (version 1)
    record = new_access_key()
    stores.principals.create_access_key(record)
    disabled = dataclasses.replace(record, enabled=False, version=2)
    # When it is replaced expecting version 1, Then the change is stored
    assert stores.principals.replace_access_key(disabled, expected_version=1)
    assert stores.principals.get_access_key(record.access_key) == disabled
    # And a writer that still expects version 1 is refused, nothing written
    stale = dataclasses.replace(record, description="stale", version=2)
    assert not stores.principals.replace_access_key(stale, expected_version=1)
    assert stores.principals.get_access_key(record.access_key) == disabled
    # And a replace of an unknown key writes nothing
    ghost = new_access_key(version=2)
    assert not stores.principals.replace_access_key(ghost, expected_version=1)
    assert stores.principals.get_access_key(ghost.access_key) is None


def test_access_key_delete_and_list(stores: Stores, new_access_key: AccessKeyFactory) -> None:
    # Given keys of two domains
    ours = [new_access_key(domain_id="a" * 32, user_id="u" * 32), new_access_key(domain_id="a" * 32)]
    theirs = new_access_key(domain_id="b" * 32)
    for record in (*ours, theirs):
        stores.principals.create_access_key(record)
    # When listed by domain, Then only that domain's keys, in access key order
    assert stores.principals.list_access_keys("a" * 32) == sorted(ours, key=lambda r: r.access_key)
    assert len(stores.principals.list_access_keys()) == 3
    # When one is deleted, Then it is gone, and a second delete reports nothing was there
    assert stores.principals.delete_access_key(theirs.access_key)
    assert stores.principals.get_access_key(theirs.access_key) is None
    assert not stores.principals.delete_access_key(theirs.access_key)
    assert stores.principals.list_access_keys("b" * 32) == []


def test_user_is_found_by_id_and_replace_keeps_it_so(stores: Stores, new_user: UserFactory) -> None:
    # Given a user with policies and an epoch
    user = new_user(policies=("KMS Administrator", "custom"), token_epoch=3)
    stores.principals.create_user(user)
    # Then it is found by name and by (domain id, user id), not by its id in another domain
    assert stores.principals.get_user(user.domain_name, user.name) == user
    assert stores.principals.get_user_by_id(user.domain_id, user.user_id) == user
    assert stores.principals.get_user_by_id("e" * 32, user.user_id) is None
    # When it is changed with the version it was read at
    changed = dataclasses.replace(user, enabled=False, token_epoch=4, policies=(), version=2)
    assert stores.principals.replace_user(changed, expected_version=1)
    # Then both lookups see the change; a stale writer is refused
    assert stores.principals.get_user_by_id(user.domain_id, user.user_id) == changed
    assert not stores.principals.replace_user(dataclasses.replace(user, version=2), expected_version=1)
    assert stores.principals.get_user(user.domain_name, user.name) == changed


def test_user_name_taken_by_another_user_id_is_not_replaced(stores: Stores, new_user: UserFactory) -> None:
    # Given a user
    user = new_user()
    stores.principals.create_user(user)
    # When a record with the same name but another user id is written over it (a user deleted and
    # made again while a writer held the old one), Then it is refused
    impostor = dataclasses.replace(user, user_id="f" * 32, version=2)
    assert not stores.principals.replace_user(impostor, expected_version=1)
    assert not stores.principals.delete_user(impostor)
    assert stores.principals.get_user(user.domain_name, user.name) == user


def test_user_create_needs_a_free_name_and_a_free_id(stores: Stores, new_user: UserFactory) -> None:
    # Given a user
    user = new_user()
    stores.principals.create_user(user)
    # When another user takes its id under another name, Then it is refused and nothing is written
    same_id = new_user(user_id=user.user_id)
    with pytest.raises(PrincipalExists):
        stores.principals.create_user(same_id)
    assert stores.principals.get_user(same_id.domain_name, same_id.name) is None


def test_user_delete_removes_both_lookups_and_frees_the_name(stores: Stores, new_user: UserFactory) -> None:
    # Given two users of one domain and one of another
    first, second = new_user(name="alice"), new_user(name="bob")
    other = new_user(name="alice", domain_id="e" * 32, domain_name="other")
    for user in (first, second, other):
        stores.principals.create_user(user)
    assert stores.principals.list_users(first.domain_id) == [first, second]
    # When one is deleted
    assert stores.principals.delete_user(first)
    # Then it is found neither by name nor by id, and its name can be taken again
    assert stores.principals.get_user(first.domain_name, first.name) is None
    assert stores.principals.get_user_by_id(first.domain_id, first.user_id) is None
    assert not stores.principals.delete_user(first)
    stores.principals.create_user(new_user(name="alice"))
    assert [u.name for u in stores.principals.list_users(first.domain_id)] == ["alice", "bob"]
    assert len(stores.principals.list_users()) == 3


def test_interleaved_attach_and_disable_lose_nothing(stores: Stores, new_user: UserFactory) -> None:
    # Given two writers that read the same user (version 1)
    user = new_user()
    stores.principals.create_user(user)
    first = stores.principals.get_user(user.domain_name, user.name)
    second = stores.principals.get_user_by_id(user.domain_id, user.user_id)
    assert first is not None
    assert second is not None
    # When the first attaches a policy, then the second (still at version 1) disables the user
    attached = dataclasses.replace(first, policies=("KMS Administrator",), version=2)
    assert stores.principals.replace_user(attached, expected_version=1)
    disabled = dataclasses.replace(second, enabled=False, version=2)
    # Then the second write is refused; re-read and applied again, both changes are kept
    assert not stores.principals.replace_user(disabled, expected_version=1)
    fresh = stores.principals.get_user(user.domain_name, user.name)
    assert fresh == attached
    assert stores.principals.replace_user(
        dataclasses.replace(fresh, enabled=False, version=3), expected_version=2
    )
    final = stores.principals.get_user(user.domain_name, user.name)
    assert final is not None
    assert (final.policies, final.enabled, final.version) == (("KMS Administrator",), False, 3)


def test_concurrent_user_changes_never_lose_one(threaded_stores: Stores, new_user: UserFactory) -> None:
    stores = threaded_stores
    # Given a user, and THREADS writers each attaching its own policy with read-modify-write retries
    user = new_user()
    stores.principals.create_user(user)

    def attach(index: int) -> None:
        while True:
            current = stores.principals.get_user(user.domain_name, user.name)
            assert current is not None
            changed = dataclasses.replace(
                current, policies=(*current.policies, f"p{index}"), version=current.version + 1
            )
            if stores.principals.replace_user(changed, expected_version=current.version):
                return

    # When they all run at once
    assert run_threads(THREADS, attach) == []
    # Then every attach is there, and the version counted each one
    final = stores.principals.get_user(user.domain_name, user.name)
    assert final is not None
    assert sorted(final.policies) == sorted(f"p{i}" for i in range(THREADS))
    assert final.version == 1 + THREADS


def test_concurrent_access_key_changes_never_lose_one(
    threaded_stores: Stores, new_access_key: AccessKeyFactory
) -> None:
    stores = threaded_stores
    # Given an access key, and writers that each append a mark to its description (retrying)
    record = new_access_key()
    stores.principals.create_access_key(record)

    def mark(index: int) -> None:
        while True:
            current = stores.principals.get_access_key(record.access_key)
            assert current is not None
            changed = dataclasses.replace(
                current, description=f"{current.description}[{index}]", version=current.version + 1
            )
            if stores.principals.replace_access_key(changed, expected_version=current.version):
                return

    assert run_threads(THREADS, mark) == []
    final = stores.principals.get_access_key(record.access_key)
    assert final is not None
    assert all(f"[{i}]" in final.description for i in range(THREADS))
    assert final.version == 1 + THREADS


def test_project_claim_first_wins(stores: Stores) -> None:
    # Given an unclaimed project
    assert stores.principals.get_project("p1") is None
    # When domain A claims it, then domain B does
    first = ProjectClaim("p1", "a" * 32, created_at=1)
    assert stores.principals.claim_project(first) == first
    # Then B is told A's claim, and A claiming again is idempotent
    assert stores.principals.claim_project(ProjectClaim("p1", "b" * 32, created_at=2)) == first
    assert stores.principals.claim_project(ProjectClaim("p1", "a" * 32, created_at=3)) == first
    assert stores.principals.get_project("p1") == first


def test_concurrent_project_claims_agree_on_one_owner(threaded_stores: Stores) -> None:
    stores = threaded_stores
    # Given THREADS domains claiming one project at once
    results: list[ProjectClaim] = []
    lock = threading.Lock()

    def claim(index: int) -> None:
        won = stores.principals.claim_project(ProjectClaim("contested", f"{index:032x}"))
        with lock:
            results.append(won)

    assert run_threads(THREADS, claim) == []
    # Then every one of them was told the same owner, the one stored
    assert len({r.domain_id for r in results}) == 1
    assert stores.principals.get_project("contested") == results[0]


def test_policy_create_get_list(stores: Stores) -> None:
    # Given a policy of domain A
    policy = PolicyRecord("a" * 32, "read-only", "0" * 32, '{"Version": "1.1"}', created_at=5)
    stores.principals.create_policy(policy)
    # Then it is found in A only; the name is taken in A but free in B
    assert stores.principals.get_policy("a" * 32, "read-only") == policy
    assert stores.principals.get_policy("b" * 32, "read-only") is None
    with pytest.raises(PrincipalExists):
        stores.principals.create_policy(dataclasses.replace(policy, policy_id="1" * 32))
    theirs = dataclasses.replace(policy, domain_id="b" * 32)
    stores.principals.create_policy(theirs)
    assert stores.principals.list_policies("a" * 32) == [policy]
    assert stores.principals.list_policies() == [policy, theirs]


def test_dynamodb_identity_items_use_the_documented_keys(
    dynamo_stores: Stores, dynamo_table: str, new_user: UserFactory
) -> None:
    # Given a user, a project claim and a custom policy
    user = new_user(domain_id="dom", user_id="u1", domain_name="a#b", name="c")
    dynamo_stores.principals.create_user(user)
    dynamo_stores.principals.claim_project(ProjectClaim("p1", "dom", created_at=7))
    dynamo_stores.principals.create_policy(PolicyRecord("dom", "ro", "0" * 32, "{}", created_at=8))
    client = boto3.client("dynamodb")

    def item(pk: str, sk: str) -> dict[str, Any]:
        found = client.get_item(TableName=dynamo_table, Key={"PK": {"S": pk}, "SK": {"S": sk}})
        return cast(dict[str, Any], found["Item"])

    # Then the index by id, the claim and the policy sit under their documented keys (see
    # template.yaml's ItemKinds: USERID#, PROJECT#, POLICY#), base64url-encoded where names are free
    pointer = item("USERID#ZG9t#dTE", "USERID")  # base64url("dom") + "#" + base64url("u1")
    assert (pointer["domain_name"], pointer["name"]) == ({"S": "a#b"}, {"S": "c"})
    assert item("PROJECT#p1", "PROJECT")["domain_id"] == {"S": "dom"}
    assert item("POLICY#ZG9t#cm8", "POLICY")["document"] == {"S": "{}"}
    # And the user record carries its policies and version natively typed
    user_item = item("USER#YSNi#Yw", "USER")
    assert user_item["policies"] == {"L": []}
    assert user_item["version"] == {"N": "1"}


# -- listings: after create, change and delete, by domain and for every domain -----------------


def test_listings_follow_creates_changes_and_deletes(
    stores: Stores, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given access keys, users and policies of two domains
    a, b = "a" * 32, "b" * 32
    keys = [new_access_key(domain_id=a), new_access_key(domain_id=a), new_access_key(domain_id=b)]
    users = [
        new_user(name="alice", domain_id=a, domain_name="dom-a"),
        new_user(name="bob", domain_id=a, domain_name="dom-a"),
        new_user(name="carol", domain_id=b, domain_name="dom-b"),
    ]
    policies = [
        PolicyRecord(a, "p1", "1" * 32, "{}", created_at=1),
        PolicyRecord(b, "p2", "2" * 32, "{}", created_at=2),
    ]
    for key in keys:
        stores.principals.create_access_key(key)
    for user in users:
        stores.principals.create_user(user)
    for policy in policies:
        stores.principals.create_policy(policy)
    # Then each listing holds its domain's records, and every domain's without a filter
    assert stores.principals.list_access_keys(a) == sorted(keys[:2], key=lambda r: r.access_key)
    assert stores.principals.list_access_keys(b) == [keys[2]]
    assert stores.principals.list_access_keys() == sorted(keys, key=lambda r: r.access_key)
    assert stores.principals.list_users(a) == users[:2]
    assert stores.principals.list_users() == users
    assert stores.principals.list_policies(b) == [policies[1]]
    assert stores.principals.list_policies() == policies
    assert stores.principals.list_access_keys("c" * 32) == []
    assert stores.principals.list_users("c" * 32) == []
    # When a key and a user are disabled (and the user given a policy)
    disabled_key = dataclasses.replace(keys[0], enabled=False, version=2)
    assert stores.principals.replace_access_key(disabled_key, expected_version=1)
    disabled_user = dataclasses.replace(users[1], enabled=False, policies=("p1",), version=2)
    assert stores.principals.replace_user(disabled_user, expected_version=1)
    # Then the listings show the change, once each
    listed_keys = stores.principals.list_access_keys(a)
    assert disabled_key in listed_keys
    assert len(listed_keys) == 2
    assert stores.principals.list_users(a) == [users[0], disabled_user]
    assert len(stores.principals.list_users()) == 3
    # When a key and a user are deleted
    assert stores.principals.delete_access_key(keys[2].access_key)
    assert stores.principals.delete_user(users[0])
    # Then neither is listed any more, by domain or for every domain
    assert stores.principals.list_access_keys(b) == []
    assert keys[2] not in stores.principals.list_access_keys()
    assert len(stores.principals.list_access_keys()) == 2
    assert stores.principals.list_users(a) == [disabled_user]
    assert stores.principals.list_users() == [disabled_user, users[2]]
    # And a refused change or delete leaves the listings as they were
    assert not stores.principals.replace_access_key(keys[2], expected_version=1)
    assert not stores.principals.delete_access_key(keys[2].access_key)
    assert stores.principals.list_access_keys(b) == []


def test_a_name_made_again_is_listed_once(stores: Stores, new_user: UserFactory) -> None:
    # Given a user deleted and made again under the same name (another id)
    first = new_user(name="alice")
    stores.principals.create_user(first)
    assert stores.principals.delete_user(first)
    again = new_user(name="alice")
    stores.principals.create_user(again)
    # Then the listing shows the new user only
    assert stores.principals.list_users(first.domain_id) == [again]
    assert stores.principals.list_users() == [again]


def test_dynamodb_listings_query_and_never_scan(
    dynamo_stores: Stores, dynamo_client: Any, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given principals of two domains, more keys than one BatchGetItem reads (100)
    a, b = "a" * 32, "b" * 32
    keys = [new_access_key(domain_id=a) for _ in range(105)] + [new_access_key(domain_id=b)]
    for key in keys:
        dynamo_stores.principals.create_access_key(key)
    user = new_user(domain_id=b)
    dynamo_stores.principals.create_user(user)
    policy = PolicyRecord(a, "p1", "1" * 32, "{}", created_at=1)
    dynamo_stores.principals.create_policy(policy)
    # And a recorder of every DynamoDB operation the adapter calls from now on
    calls: list[str] = []
    dynamo_client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    # When every listing runs, by domain and for every domain
    assert len(dynamo_stores.principals.list_access_keys(a)) == 105
    assert dynamo_stores.principals.list_access_keys() == sorted(keys, key=lambda r: r.access_key)
    assert dynamo_stores.principals.list_users() == [user]
    assert dynamo_stores.principals.list_users(b) == [user]
    assert dynamo_stores.principals.list_policies() == [policy]
    assert dynamo_stores.principals.list_policies(a) == [policy]
    # Then they were Queries and BatchGetItems only: no Scan
    assert "Scan" not in calls
    assert set(calls) == {"Query", "BatchGetItem"}


def test_dynamodb_listing_items_use_the_documented_keys(
    dynamo_stores: Stores, dynamo_table: str, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given an access key, a user and a policy of one domain
    dynamo_stores.principals.create_access_key(new_access_key(access_key="AKEXAMPLE", domain_id="dom"))
    dynamo_stores.principals.create_user(new_user(domain_id="dom", domain_name="a#b", name="c"))
    dynamo_stores.principals.create_policy(PolicyRecord("dom", "ro", "0" * 32, "{}", created_at=8))
    # When the domain's listing partition and the domains partition are queried directly
    client = boto3.client("dynamodb")

    def partition(pk: str) -> list[dict[str, Any]]:
        response = client.query(
            TableName=dynamo_table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        )
        return cast(list[dict[str, Any]], response["Items"])

    # Then each listing item holds the keys of its record only (see template.yaml's ItemKinds:
    # PRINCIPALS#), and the domain is among those seen
    listing = {item["SK"]["S"]: item for item in partition("PRINCIPALS#D#dom")}
    assert set(listing) == {"AK#AKEXAMPLE", "USER#YSNi#Yw", "POLICY#ro"}
    assert listing["AK#AKEXAMPLE"] == {
        "PK": {"S": "PRINCIPALS#D#dom"},
        "SK": {"S": "AK#AKEXAMPLE"},
        "ref": {"S": "AK#AKEXAMPLE"},
    }
    assert listing["USER#YSNi#Yw"]["ref"] == {"S": "USER#YSNi#Yw"}
    assert listing["POLICY#ro"]["ref"] == {"S": "POLICY#ZG9t#cm8"}
    assert [item["SK"]["S"] for item in partition("PRINCIPALS#DOMAINS")] == ["D#dom"]


def test_dynamodb_records_made_before_listing_items_are_listed(
    dynamo_stores: Stores, dynamo_table: str, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given a table written before listing partitions: records only, no PRINCIPALS# item
    from skms.storage.dynamodb.principals import _access_key_key, _principal_item, _user_key

    client = boto3.client("dynamodb")
    old_key = new_access_key(domain_id="a" * 32)
    old_user = new_user(domain_id="a" * 32)
    client.put_item(
        TableName=dynamo_table, Item=_principal_item(_access_key_key(old_key.access_key), old_key)
    )
    client.put_item(
        TableName=dynamo_table, Item=_principal_item(_user_key(old_user.domain_name, old_user.name), old_user)
    )
    # When listed, Then they are found (the table has no domain partition: the old Scan)
    assert dynamo_stores.principals.list_access_keys() == [old_key]
    assert dynamo_stores.principals.list_access_keys("a" * 32) == [old_key]
    assert dynamo_stores.principals.list_users("a" * 32) == [old_user]
    # When they are changed, Then they have listing items, and are listed once a new principal exists
    changed_key = dataclasses.replace(old_key, enabled=False, version=2)
    assert dynamo_stores.principals.replace_access_key(changed_key, expected_version=1)
    changed_user = dataclasses.replace(old_user, enabled=False, version=2)
    assert dynamo_stores.principals.replace_user(changed_user, expected_version=1)
    new_key = new_access_key(domain_id="b" * 32)
    dynamo_stores.principals.create_access_key(new_key)
    assert dynamo_stores.principals.list_access_keys() == sorted(
        [changed_key, new_key], key=lambda r: r.access_key
    )
    assert dynamo_stores.principals.list_users() == [changed_user]


def test_no_function_is_granted_the_listing_partitions() -> None:
    # Given every function of template.yaml and the partitions the listings use
    from tests.support.template import AwsCall, denied_calls, load_template, template_functions

    template = load_template()
    functions = template_functions()
    assert len(functions) > 40  # guards the loop below against passing on nothing
    partitions = ("PRINCIPALS#D#ZG9t", "PRINCIPALS#DOMAINS")
    # (the check does allow what is granted: the authorizer reads access keys)
    read_key = AwsCall("dynamodb:GetItem", "table", {"dynamodb:LeadingKeys": ["AK#AKEXAMPLE"]})
    assert denied_calls(functions["authorizer"].logical_id, [read_key], template) == []
    # Then none may read or write them: only the operator's CLI lists principals
    for ref in functions.values():
        for action in ("GetItem", "Query", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem"):
            for partition in partitions:
                call = AwsCall(f"dynamodb:{action}", "table", {"dynamodb:LeadingKeys": [partition]})
                assert denied_calls(ref.logical_id, [call], template) == [call], (ref.logical_id, action)
    # And the mapping names the prefix, for the operator's own IAM policies
    assert template["Mappings"]["ItemKinds"]["PrincipalListings"]["LeadingKeys"] == ["PRINCIPALS#*"]


def test_dynamodb_index_listings_lists_every_principal_made_before(
    dynamo_stores: Stores, dynamo_table: str, new_access_key: AccessKeyFactory, new_user: UserFactory
) -> None:
    # Given records written before listing partitions (no PRINCIPALS# item), and a principal since
    from skms.storage.dynamodb.principals import (
        DynamoPrincipalStore,
        _access_key_key,
        _policy_key,
        _principal_item,
        _user_key,
    )

    client = boto3.client("dynamodb")
    old_key, old_user = new_access_key(domain_id="a" * 32), new_user(domain_id="a" * 32)
    old_policy = PolicyRecord("a" * 32, "ro", "0" * 32, "{}", created_at=8)
    for item in (
        _principal_item(_access_key_key(old_key.access_key), old_key),
        _principal_item(_user_key(old_user.domain_name, old_user.name), old_user),
        _principal_item(_policy_key(old_policy.domain_id, old_policy.name), old_policy),
    ):
        client.put_item(TableName=dynamo_table, Item=item)
    new_key = new_access_key(domain_id="b" * 32)
    dynamo_stores.principals.create_access_key(new_key)
    assert dynamo_stores.principals.list_access_keys() == [new_key]  # the old ones are not indexed
    store = dynamo_stores.principals
    assert isinstance(store, DynamoPrincipalStore)
    # When the one-time step runs (twice: it is idempotent)
    assert store.index_listings() == 4
    assert store.index_listings() == 4
    # Then every principal is listed, once, by domain and for every domain
    assert store.list_access_keys() == sorted([old_key, new_key], key=lambda r: r.access_key)
    assert store.list_access_keys("a" * 32) == [old_key]
    assert store.list_users() == [old_user]
    assert store.list_policies() == [old_policy]
    assert store.list_policies("a" * 32) == [old_policy]
    # And a delete after it takes the record out of the listings
    assert store.delete_access_key(old_key.access_key)
    assert store.list_access_keys() == [new_key]
