"""The cached factory that wires configuration, storage, root key and keyring together.

Built on first use (never at import time), once per process, so a warm Lambda reuses its store
connection, root-key client and material cache. Tests call :func:`reset_services` or pass their
own :class:`Services` to logic functions.
"""

from __future__ import annotations

import threading
from typing import Any

from skms.auth.policies import StorePolicySource
from skms.config import ConfigError, Settings
from skms.crypto.cache import TtlLruCache
from skms.crypto.root_key import LocalRootKey, RootKeyProvider
from skms.keyring import Keyring
from skms.services import Services
from skms.storage.port import Stores

__all__ = ["Services", "build_services", "get_services", "reset_services", "set_services"]


def build_stores(settings: Settings) -> Stores:
    """The stores of the configured backend (one table client, or one SQLite file, shared)."""
    if settings.storage == "dynamodb":
        from skms.storage import dynamodb

        assert settings.table_name is not None  # checked by Settings
        return dynamodb.open_stores(settings.table_name, endpoint_url=settings.dynamodb_endpoint)
    from skms.storage import sqlite

    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return sqlite.open_stores(settings.sqlite_path)


def build_root_key(settings: Settings, store_existed: bool = False) -> RootKeyProvider:
    if settings.root_key == "aws-kms":
        from skms.root_keys.aws_kms import AwsKmsRootKey

        assert settings.root_key_id is not None  # checked by Settings
        return AwsKmsRootKey(settings.root_key_id, endpoint_url=settings.kms_endpoint)
    key_path = settings.local_root_key_path
    if settings.storage == "sqlite" and store_existed and not key_path.exists():
        # A new root key beside an existing store would silently make every stored key unusable.
        raise ConfigError(
            f"the root key {key_path} is missing but the store {settings.sqlite_path} exists: "
            "restore the key file (or point KMS_ROOT_KEY_FILE at it) instead of starting with a new one"
        )
    return LocalRootKey.from_file(key_path)


def build_services(settings: Settings) -> Services:
    cache: TtlLruCache[bytes] = TtlLruCache(settings.cache_max_entries, settings.cache_ttl_seconds)
    store_existed = settings.storage == "sqlite" and settings.sqlite_path.exists()
    root = build_root_key(settings, store_existed)
    access_keys: TtlLruCache[Any] | None = (
        TtlLruCache(settings.cache_max_entries, settings.access_key_cache_seconds)
        if settings.access_key_cache_seconds > 0
        else None
    )
    grants_held: TtlLruCache[Any] | None = (
        TtlLruCache(settings.cache_max_entries, settings.access_key_cache_seconds)
        if settings.access_key_cache_seconds > 0
        else None
    )
    stores = build_stores(settings)
    policies = StorePolicySource(stores.principals, settings.access_key_cache_seconds)
    return Services(settings, stores, Keyring(root, cache), access_keys, policies, grants_held)


_lock = threading.Lock()
_services: Services | None = None


def get_services() -> Services:
    global _services  # noqa: PLW0603 - the one process-wide cache
    if _services is None:
        with _lock:
            if _services is None:
                _services = build_services(Settings.from_env())
    return _services


def set_services(services: Services | None) -> None:
    """Install (or with None, forget) the process-wide services; for the local server and tests."""
    global _services  # noqa: PLW0603
    with _lock:
        if _services is not None and _services is not services:
            _services.stores.close()
        _services = services


def reset_services() -> None:
    set_services(None)
