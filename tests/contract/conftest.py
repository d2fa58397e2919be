"""Fixtures of the contract suites: one ``stores`` bundle per adapter (``store`` is its key store),
and record factories (keys, access keys, users, aliases).

The DynamoDB adapter runs under moto's ``mock_aws`` against a table built from template.yaml's
``KeysTable`` (tests/support/template.py), so the suite also checks the adapter against the
schema that is actually deployed.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import pathlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from skms.domain import (
    AccessKeyRecord,
    AliasRecord,
    KeyRecord,
    KeyVersion,
    KeyVersions,
    UserRecord,
    VersionState,
)
from skms.storage import memory, sqlite
from skms.storage.port import KeyStore, Stores
from tests.support.records import key_record
from tests.support.template import create_table_from_template, load_template

TABLE_NAME = "skms-contract-keys"
ADAPTERS = ("memory", "sqlite", "dynamodb")
THREADS = 16  # threads of the concurrency tests

RecordFactory = Callable[..., KeyRecord]
AccessKeyFactory = Callable[..., AccessKeyRecord]
UserFactory = Callable[..., UserRecord]
AliasFactory = Callable[..., AliasRecord]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and a region, and no real endpoint or profile, then moto's mock."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def cfn_template() -> dict[str, Any]:
    """template.yaml, parsed once per session (YAML parsing is most of a table's setup time)."""
    return load_template()


@pytest.fixture
def dynamo_table(aws_env: None, cfn_template: dict[str, Any]) -> str:
    create_table_from_template(boto3.client("dynamodb"), "KeysTable", TABLE_NAME, copy.deepcopy(cfn_template))
    return TABLE_NAME


@pytest.fixture
def dynamo_store_factory(dynamo_table: str) -> Callable[[], KeyStore]:
    """A new DynamoKeyStore on the contract table per call, as in another Lambda instance: its
    own client, and its own memory of the key versions it has read and written."""
    from skms.storage.dynamodb import DynamoKeyStore, DynamoTable

    return lambda: DynamoKeyStore(DynamoTable(dynamo_table, client=boto3.client("dynamodb")))


def _open(kind: str, tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Stores:
    if kind == "memory":
        return memory.open_stores()
    if kind == "sqlite":
        return sqlite.open_stores(tmp_path / "keys.sqlite3")
    from skms.storage import dynamodb

    table: str = request.getfixturevalue("dynamo_table")
    return dynamodb.open_stores(table)  # its boto3 client is created lazily, inside the mock


@pytest.fixture(params=ADAPTERS)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def stores(store_kind: str, tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Iterator[Stores]:
    opened = _open(store_kind, tmp_path, request)
    yield opened
    opened.close()


@pytest.fixture
def store(stores: Stores) -> KeyStore:
    """The key store of ``stores``."""
    return stores.keys


# moto keeps its tables in plain dicts with no locking (a conditional write is a check then a write),
# so thread races would be lost by the fake, not the adapter: threaded tests run on the real engines.
# The DynamoDB adapter's conflict handling is covered by the interleaved tests; its atomicity is
# DynamoDB's own (conditional writes and transactions).
@pytest.fixture(params=("memory", "sqlite"))
def threaded_stores(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Stores]:
    opened = _open(request.param, tmp_path, request)
    yield opened
    opened.close()


@pytest.fixture
def threaded_store(threaded_stores: Stores) -> KeyStore:
    """The key store of ``threaded_stores``."""
    return threaded_stores.keys


@pytest.fixture
def new_record() -> RecordFactory:
    """Build a valid record; each call gets a fresh key id, alias and a later creation date."""
    clock = itertools.count(1_700_000_000_000, 1000)

    def build(project_id: str = "p" * 32, **changes: object) -> KeyRecord:
        # version 0 destroyed, version 1 live and primary: metadata and material both round-trip
        versions = KeyVersions(
            1,
            (
                KeyVersion(0, 1_600_000_000_000, VersionState.DESTROYED),
                KeyVersion(1, 1_650_000_000_000, VersionState.ENABLED, uuid.uuid4().bytes),
            ),
        )
        return key_record(project_id, **{"creation_date": next(clock), "versions": versions, **changes})

    return build


@pytest.fixture
def new_access_key() -> AccessKeyFactory:
    """Build a valid access key record; each call gets a fresh access key id and secret."""

    def build(**changes: Any) -> AccessKeyRecord:
        record = AccessKeyRecord(
            access_key=uuid.uuid4().hex[:20].upper(),
            secret_wrapped=uuid.uuid4().bytes,
            domain_id="d" * 32,
            project_ids=("p" * 32,),
            created_at=1_700_000_000_000,
        )
        return dataclasses.replace(record, **changes)

    return build


@pytest.fixture
def new_user() -> UserFactory:
    """Build a valid user record; each call gets a fresh user id and name in domain "domain"."""

    def build(**changes: Any) -> UserRecord:
        user_id = uuid.uuid4().hex
        record = UserRecord(
            user_id=user_id,
            name=f"user-{user_id[:8]}",
            domain_id="d" * 32,
            domain_name="domain",
            password_hash=f"scrypt$16384$8$1${user_id}",
            project_ids=("p" * 32,),
            created_at=1_700_000_000_000,
        )
        return dataclasses.replace(record, **changes)

    return build


@pytest.fixture
def new_alias() -> AliasFactory:
    """Build a valid alias record in domain "d" * 32 and project "p" * 32; each call gets a fresh
    name and key id unless given."""

    def build(**changes: Any) -> AliasRecord:
        suffix = uuid.uuid4().hex[:12]
        record = AliasRecord(
            domain_id="d" * 32,
            alias=f"alias/test-{suffix}",
            key_id=str(uuid.uuid4()),
            project_id="p" * 32,
            create_time=1_700_000_000_000,
            update_time=1_700_000_000_000,
        )
        return dataclasses.replace(record, **changes)

    return build


def run_threads(count: int, target: Callable[[int], object]) -> list[BaseException]:
    """Run ``target(index)`` in ``count`` threads started together; the exceptions raised."""
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
