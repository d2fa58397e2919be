"""The in-memory fake of the :class:`PrincipalStore` port.

Principal records hold only immutable values (str, bytes, tuples), so they are stored as given
(bytes and tuples normalised, in case a caller passed a bytearray or a list).
"""

from __future__ import annotations

import dataclasses
import threading

from skms.domain import AccessKeyRecord, PolicyRecord, ProjectClaim, UserRecord
from skms.storage.port import PrincipalExists, PrincipalStore


def _frozen_access_key(record: AccessKeyRecord) -> AccessKeyRecord:
    return dataclasses.replace(
        record, secret_wrapped=bytes(record.secret_wrapped), project_ids=tuple(record.project_ids)
    )


def _frozen_user(record: UserRecord) -> UserRecord:
    return dataclasses.replace(record, project_ids=tuple(record.project_ids), policies=tuple(record.policies))


class InMemoryPrincipalStore(PrincipalStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._access_keys: dict[str, AccessKeyRecord] = {}
        self._users: dict[tuple[str, str], UserRecord] = {}  # (domain_name, name) -> record
        self._user_ids: dict[tuple[str, str], tuple[str, str]] = {}  # (domain_id, user_id) -> users key
        self._projects: dict[str, ProjectClaim] = {}
        self._policies: dict[tuple[str, str], PolicyRecord] = {}  # (domain_id, name) -> record

    # -- access keys -------------------------------------------------------------------------------

    def create_access_key(self, record: AccessKeyRecord) -> None:
        with self._lock:
            if record.access_key in self._access_keys:
                raise PrincipalExists(record.access_key)
            self._access_keys[record.access_key] = _frozen_access_key(record)

    def get_access_key(self, access_key: str) -> AccessKeyRecord | None:
        with self._lock:
            return self._access_keys.get(access_key)

    def replace_access_key(self, record: AccessKeyRecord, *, expected_version: int) -> bool:
        with self._lock:
            stored = self._access_keys.get(record.access_key)
            if stored is None or stored.version != expected_version:
                return False
            self._access_keys[record.access_key] = _frozen_access_key(record)
            return True

    def delete_access_key(self, access_key: str) -> bool:
        with self._lock:
            return self._access_keys.pop(access_key, None) is not None

    def list_access_keys(self, domain_id: str | None = None) -> list[AccessKeyRecord]:
        with self._lock:
            records = list(self._access_keys.values())
        return sorted(
            (r for r in records if domain_id is None or r.domain_id == domain_id), key=lambda r: r.access_key
        )

    # -- users -------------------------------------------------------------------------------------

    def create_user(self, record: UserRecord) -> None:
        key = (record.domain_name, record.name)
        by_id = (record.domain_id, record.user_id)
        with self._lock:
            if key in self._users or by_id in self._user_ids:
                raise PrincipalExists(record.name)
            self._users[key] = _frozen_user(record)
            self._user_ids[by_id] = key

    def get_user(self, domain_name: str, name: str) -> UserRecord | None:
        with self._lock:
            return self._users.get((domain_name, name))

    def get_user_by_id(self, domain_id: str, user_id: str) -> UserRecord | None:
        with self._lock:
            key = self._user_ids.get((domain_id, user_id))
            return None if key is None else self._users.get(key)

    def replace_user(self, record: UserRecord, *, expected_version: int) -> bool:
        key = (record.domain_name, record.name)
        with self._lock:
            stored = self._users.get(key)
            if stored is None or stored.version != expected_version or stored.user_id != record.user_id:
                return False
            self._users[key] = _frozen_user(record)
            self._user_ids[(record.domain_id, record.user_id)] = key
            return True

    def delete_user(self, record: UserRecord) -> bool:
        key = (record.domain_name, record.name)
        with self._lock:
            stored = self._users.get(key)
            if stored is None or stored.user_id != record.user_id:
                return False
            del self._users[key]
            self._user_ids.pop((stored.domain_id, stored.user_id), None)
            return True

    def list_users(self, domain_id: str | None = None) -> list[UserRecord]:
        with self._lock:
            records = list(self._users.values())
        return sorted(
            (r for r in records if domain_id is None or r.domain_id == domain_id),
            key=lambda r: (r.domain_name, r.name),
        )

    # -- projects ----------------------------------------------------------------------------------

    def claim_project(self, claim: ProjectClaim) -> ProjectClaim:
        with self._lock:
            return self._projects.setdefault(claim.project_id, claim)

    def get_project(self, project_id: str) -> ProjectClaim | None:
        with self._lock:
            return self._projects.get(project_id)

    # -- custom policies ---------------------------------------------------------------------------

    def create_policy(self, record: PolicyRecord) -> None:
        key = (record.domain_id, record.name)
        with self._lock:
            if key in self._policies:
                raise PrincipalExists(record.name)
            self._policies[key] = record

    def get_policy(self, domain_id: str, name: str) -> PolicyRecord | None:
        with self._lock:
            return self._policies.get((domain_id, name))

    def list_policies(self, domain_id: str | None = None) -> list[PolicyRecord]:
        with self._lock:
            records = list(self._policies.values())
        return sorted(
            (r for r in records if domain_id is None or r.domain_id == domain_id),
            key=lambda r: (r.domain_id, r.name),
        )
