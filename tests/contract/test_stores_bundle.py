"""The Stores bundle of each backend: its stores share one DynamoDB client or one SQLite database,
made lazily, and stay usable after ``close()`` (a warm Lambda, ``skms serve`` restarting services)."""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from skms.domain import AccessKeyRecord, AliasRecord, KeyRecord
from skms.storage.port import Stores

RecordFactory = Callable[..., KeyRecord]
AccessKeyFactory = Callable[..., AccessKeyRecord]
AliasFactory = Callable[..., AliasRecord]


def _use_every_store(
    stores: Stores, new_record: RecordFactory, new_access_key: AccessKeyFactory, new_alias: AliasFactory
) -> None:
    """One write and one read through each store of the bundle."""
    record = new_record()
    stores.keys.create_key(record)
    assert stores.keys.get_key(record.project_id, record.key_id) == record
    access_key = new_access_key()
    stores.principals.create_access_key(access_key)
    assert stores.principals.get_access_key(access_key.access_key) == access_key
    alias = new_alias(key_id=record.key_id)
    stores.aliases.create_alias(alias)
    assert stores.aliases.get_alias(alias.domain_id, alias.alias) == alias
    assert stores.service_state.get_or_create_secret(f"s-{record.key_id}", b"v") == b"v"
    assert stores.service_state.add_login_failure("d", record.key_id, 1, expires_at=2_000_000_000) == 1
    stores.tags.change_tags(record.project_id, record.key_id, put={"env": "prod"}, max_tags=10)
    assert stores.tags.get_tags(record.project_id, record.key_id) == {"env": "prod"}


def test_every_store_works_after_the_bundle_is_closed(
    stores: Stores, new_record: RecordFactory, new_access_key: AccessKeyFactory, new_alias: AliasFactory
) -> None:
    _use_every_store(stores, new_record, new_access_key, new_alias)
    stores.close()
    _use_every_store(stores, new_record, new_access_key, new_alias)


def test_dynamodb_stores_share_one_client_made_on_first_use(
    dynamo_table: str,
    monkeypatch: pytest.MonkeyPatch,
    new_record: RecordFactory,
    new_access_key: AccessKeyFactory,
    new_alias: AliasFactory,
) -> None:
    from skms.storage import dynamodb

    made: list[str] = []
    real_client = boto3.client

    def counting_client(service: str, **kwargs: Any) -> Any:
        made.append(service)
        return real_client(service, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("boto3.client", counting_client)
    # When the bundle is built, Then no client is made yet
    stores = dynamodb.open_stores(dynamo_table)
    assert made == []
    # When every store is used, Then exactly one client was made, for all of them
    _use_every_store(stores, new_record, new_access_key, new_alias)
    assert made == ["dynamodb"]


def test_sqlite_stores_share_one_connection_per_thread(
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    new_record: RecordFactory,
    new_access_key: AccessKeyFactory,
    new_alias: AliasFactory,
) -> None:
    from skms.storage import sqlite as sqlite_backend

    opened: list[object] = []
    real_connect = sqlite3.connect

    def counting_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = real_connect(*args, **kwargs)
        opened.append(connection)
        return connection

    monkeypatch.setattr("skms.storage.sqlite.database.sqlite3.connect", counting_connect)
    # When the bundle is opened (the schema set-up connects once) and every store is used
    stores = sqlite_backend.open_stores(tmp_path / "shared.sqlite3")
    _use_every_store(stores, new_record, new_access_key, new_alias)
    # Then this thread used one connection for all of them
    assert len(opened) == 1
    stores.close()
