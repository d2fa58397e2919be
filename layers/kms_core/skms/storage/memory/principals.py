"""The in-memory fake of the :class:`PrincipalStore` port.

Principal records hold only immutable values (str, bytes, tuples), so they are stored as given
(bytes and tuples normalised, in case a caller passed a bytearray or a list).
"""

from __future__ import annotations

import dataclasses
import threading

from skms.domain import AccessKeyRecord, UserRecord
from skms.storage.port import PrincipalExists, PrincipalStore


def _frozen_access_key(record: AccessKeyRecord) -> AccessKeyRecord:
    return dataclasses.replace(
        record, secret_wrapped=bytes(record.secret_wrapped), project_ids=tuple(record.project_ids)
    )


def _frozen_user(record: UserRecord) -> UserRecord:
    return dataclasses.replace(record, project_ids=tuple(record.project_ids))


class InMemoryPrincipalStore(PrincipalStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._access_keys: dict[str, AccessKeyRecord] = {}
        self._users: dict[tuple[str, str], UserRecord] = {}  # (domain_name, name) -> record

    def create_access_key(self, record: AccessKeyRecord) -> None:
        with self._lock:
            if record.access_key in self._access_keys:
                raise PrincipalExists(record.access_key)
            self._access_keys[record.access_key] = _frozen_access_key(record)

    def get_access_key(self, access_key: str) -> AccessKeyRecord | None:
        with self._lock:
            return self._access_keys.get(access_key)

    def create_user(self, record: UserRecord) -> None:
        key = (record.domain_name, record.name)
        with self._lock:
            if key in self._users:
                raise PrincipalExists(record.name)
            self._users[key] = _frozen_user(record)

    def get_user(self, domain_name: str, name: str) -> UserRecord | None:
        with self._lock:
            return self._users.get((domain_name, name))
