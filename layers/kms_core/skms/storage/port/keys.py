"""The key port: key records, their per-project ``key_alias`` reservation, listings and counters.

- ``create_key`` is create-if-absent on the key id and, atomically with it, on the ``key_alias``
  within the project (a second key with the same alias in the project raises :class:`AliasExists`).
- ``update_key`` is conditional on ``expected_revision``: it stores ``record`` with
  ``revision = expected_revision + 1`` only if the stored revision is still ``expected_revision``,
  else raises :class:`skms.errors.ConcurrentUpdate`. An alias change moves the alias reservation
  in the same atomic write.
- ``list_keys`` is a query in creation order with a limit and an opaque cursor (never a scan, and
  never "load all then slice"): a page costs the same whatever the number of keys.

``key_alias`` (the key's display name, unique per project) is not an alias record of
:mod:`skms.storage.port.aliases` (unique per domain, several per key).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from skms.domain import KeyRecord


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
    def get_key_by_alias(self, project_id: str, alias: str) -> KeyRecord | None:
        """The key of the project whose ``key_alias`` is ``alias`` (not an alias record)."""

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
    def count_default_keys(self, project_id: str) -> int:
        """The project's live service default keys (alias ``<service>/default``), so that
        user-instances can count customer keys only (§15). Constant in the number of keys."""

    @abc.abstractmethod
    def due_for_deletion(self, now_ms: int, limit: int) -> list[KeyRecord]:
        """Live keys of every project with work for the sweep due at or before ``now_ms``
        (``KeyRecord.due_at``: pending deletion with that date, or imported material expiring
        then), earliest first, at most ``limit``: an index query (sparse in DynamoDB), never a scan."""

    @abc.abstractmethod
    def due_for_rotation(self, now_ms: int, limit: int) -> list[KeyRecord]:
        """Keys of every project whose automatic rotation is due: ``rotation_due_at`` (live,
        enabled, rotation enabled) <= ``now_ms``, earliest first, at most ``limit``: an index
        query (sparse in DynamoDB), never a scan."""
