"""The cached factory that wires configuration, storage, root key and keyring together.

Built on first use (never at import time), once per process, so a warm Lambda reuses its store
connection, root-key client and material cache. Tests call :func:`reset_services` or pass their
own :class:`Services` to logic functions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from skms.config import Settings
from skms.crypto.cache import TtlLruCache
from skms.crypto.root_key import LocalRootKey, RootKeyProvider
from skms.keyring import Keyring
from skms.storage.port import KeyStore


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: KeyStore
    keyring: Keyring


def build_store(settings: Settings) -> KeyStore:
    if settings.storage == "dynamodb":
        from skms.storage.dynamodb import DynamoKeyStore

        assert settings.table_name is not None  # checked by Settings
        return DynamoKeyStore(settings.table_name, endpoint_url=settings.dynamodb_endpoint)
    from skms.storage.sqlite import SqliteKeyStore

    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return SqliteKeyStore(settings.sqlite_path)


def build_root_key(settings: Settings) -> RootKeyProvider:
    if settings.root_key == "aws-kms":
        from skms.root_keys.aws_kms import AwsKmsRootKey

        assert settings.root_key_id is not None  # checked by Settings
        return AwsKmsRootKey(settings.root_key_id, endpoint_url=settings.kms_endpoint)
    return LocalRootKey.from_file(settings.local_root_key_path)


def build_services(settings: Settings) -> Services:
    cache: TtlLruCache[bytes] = TtlLruCache(settings.cache_max_entries, settings.cache_ttl_seconds)
    return Services(settings, build_store(settings), Keyring(build_root_key(settings), cache))


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
            _services.store.close()
        _services = services


def reset_services() -> None:
    set_services(None)
