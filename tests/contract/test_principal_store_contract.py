"""The PrincipalStore contract: access keys and users, and how they live beside the other record
kinds of one backend (the service state, keys).

Every adapter (memory, SQLite, DynamoDB under moto) must pass all of it; the rules come from the
docstrings of :mod:`skms.storage.port`. Adapter-specific checks (where the items live) follow at
the end.
"""

from __future__ import annotations

import pathlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, cast

import boto3
import pytest

from skms.domain import AccessKeyRecord, KeyRecord, UserRecord
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
    # Then only PutItem and GetItem were used: no scan, no query, no transaction
    assert calls == ["PutItem"] * 4 + ["GetItem"] * 2 + ["PutItem", "PutItem", "GetItem"]
