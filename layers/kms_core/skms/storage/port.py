"""The storage port. Adapters: :mod:`skms.storage.dynamodb` (AWS) and :mod:`skms.storage.sqlite` (local).

Both pass the same contract suite (tests/contract/test_key_store_contract.py). Rules:

- ``create_key`` is create-if-absent on the key id and, atomically with it, on the alias within
  the project (a second key with the same alias in the project raises :class:`AliasExists`).
- ``update_key`` is conditional on ``expected_revision``: it stores ``record`` with
  ``revision = expected_revision + 1`` only if the stored revision is still ``expected_revision``,
  else raises :class:`skms.errors.ConcurrentUpdate`. An alias change moves the alias reservation
  in the same atomic write.
- ``list_keys`` is a query in creation order with a limit and an opaque cursor (never a scan, and
  never "load all then slice"): a page costs the same whatever the number of keys.
- Driver errors are translated by code into :class:`StorageFailure`, chained with ``from``.
- Principals (access keys, users) and service secrets live in the same store, as other item kinds.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from skms.domain import AccessKeyRecord, KeyRecord, UserRecord


class AliasExists(Exception):
    """Another key of the project already has this alias."""


class KeyExists(Exception):
    """A key with this id already exists (ids are never reused)."""


class QuotaExceeded(Exception):
    """The project already has as many live keys as the quota given to ``create_key`` allows."""


class PrincipalExists(Exception):
    """An access key with this id, or a user with this name in the domain, already exists."""


class StorageFailure(Exception):
    """The store could not be reached or refused for a reason other than a condition."""


@dataclass(frozen=True, slots=True)
class KeyFilter:
    """list-keys filters (spec §3 op 3); None means "any"."""

    key_spec: str | None = None
    key_state: str | None = None
    enterprise_project_id: str | None = None

    def matches(self, record: KeyRecord) -> bool:
        return (
            (self.key_spec is None or record.key_spec == self.key_spec)
            and (self.key_state is None or record.key_state.value == self.key_state)
            and (
                self.enterprise_project_id is None
                or record.enterprise_project_id == self.enterprise_project_id
            )
        )


@dataclass(frozen=True, slots=True)
class KeyPage:
    records: list[KeyRecord]
    next_cursor: str | None


class KeyStore(abc.ABC):
    @abc.abstractmethod
    def create_key(self, record: KeyRecord, *, quota: int | None = None) -> None:
        """Create-if-absent (:class:`KeyExists`, :class:`AliasExists`). With ``quota``, the write
        is refused with :class:`QuotaExceeded` if the project has ``quota`` live keys or more,
        checked atomically with the write, so concurrent creates cannot overshoot it."""

    @abc.abstractmethod
    def get_key(self, project_id: str, key_id: str) -> KeyRecord | None: ...

    @abc.abstractmethod
    def get_key_by_alias(self, project_id: str, alias: str) -> KeyRecord | None: ...

    @abc.abstractmethod
    def update_key(self, record: KeyRecord, expected_revision: int) -> KeyRecord:
        """Return the stored record (with its new revision)."""

    @abc.abstractmethod
    def list_keys(
        self, project_id: str, limit: int, cursor: str | None = None, *, filters: KeyFilter | None = None
    ) -> KeyPage:
        """A page of the project's live keys (tombstones excluded) matching ``filters``, in
        creation order. Raises ValueError for a malformed cursor or a limit below 1."""

    @abc.abstractmethod
    def count_keys(self, project_id: str, *, filters: KeyFilter | None = None) -> int:
        """How many live keys of the project match ``filters`` (all live keys without)."""

    @abc.abstractmethod
    def due_for_deletion(self, now_ms: int, limit: int) -> list[KeyRecord]:
        """Live keys of every project that are pending deletion with a date <= ``now_ms``, oldest
        date first, at most ``limit``: an index query (sparse in DynamoDB), never a scan."""

    # Principals (authentication). Same table / database as the keys, other item kinds.

    @abc.abstractmethod
    def create_access_key(self, record: AccessKeyRecord) -> None:
        """Create-if-absent on the access key id, else :class:`PrincipalExists`."""

    @abc.abstractmethod
    def get_access_key(self, access_key: str) -> AccessKeyRecord | None: ...

    @abc.abstractmethod
    def create_user(self, record: UserRecord) -> None:
        """Create-if-absent on (domain_name, name), else :class:`PrincipalExists`."""

    @abc.abstractmethod
    def get_user(self, domain_name: str, name: str) -> UserRecord | None: ...

    @abc.abstractmethod
    def count_default_keys(self, project_id: str) -> int:
        """The project's live service default keys (alias ``<service>/default``), so that
        user-instances can count customer keys only (§15). Constant in the number of keys."""

    @abc.abstractmethod
    def login_failures(self, domain_name: str, name: str, window: int) -> int:
        """Failed password attempts counted for (domain_name, name) in the fixed time window
        ``window`` (an index such as ``now // period``); 0 if none. A consistent read."""

    @abc.abstractmethod
    def add_login_failure(
        self, domain_name: str, name: str, window: int, expires_at: int, delta: int = 1
    ) -> int:
        """Add ``delta`` (an atomic increment; -1 takes an attempt back) to the failed attempts of
        ``window`` and return the new count. The counter may be forgotten after ``expires_at``
        (epoch seconds)."""

    @abc.abstractmethod
    def get_secret(self, name: str) -> bytes | None:
        """The stored value of a service secret (a consistent read), or None if there is none yet."""

    @abc.abstractmethod
    def get_or_create_secret(self, name: str, wrapped: bytes) -> bytes:
        """Store ``wrapped`` under ``name`` unless a value is already there (conditional write);
        return the stored value, so concurrent cold starts agree on one service secret."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default does nothing."""
