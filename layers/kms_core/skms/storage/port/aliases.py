"""The alias port: alias records (access-control.md §4), unique per domain, several per key.

- ``create_alias`` is create-if-absent on ``(domain_id, alias)`` (:class:`AliasExists`).
- ``delete_alias`` and ``move_alias`` are conditional on the key the alias points at, so of two
  concurrent moves (or a move and a delete) from one read, only the first takes effect and the
  other gets :class:`skms.errors.ConcurrentUpdate` (move) or :class:`AliasNotFound` (delete).
- Listings (of a key's aliases, of a project's) are queries in alias-name order (code point order,
  which is also UTF-8 byte order) with a limit and an opaque cursor, never scans.
- The store does not check that the key exists or is usable: the alias operations do that first.
  An alias stays in the project of its record: ``move_alias`` changes only its key and update time.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from skms.domain import AliasRecord


@dataclass(frozen=True, slots=True)
class AliasPage:
    records: list[AliasRecord]
    next_cursor: str | None


class AliasStore(abc.ABC):
    @abc.abstractmethod
    def create_alias(self, record: AliasRecord) -> None:
        """Create-if-absent on ``(record.domain_id, record.alias)``, else :class:`AliasExists`."""

    @abc.abstractmethod
    def get_alias(self, domain_id: str, alias: str) -> AliasRecord | None:
        """A consistent read of the alias of the domain, or None."""

    @abc.abstractmethod
    def list_key_aliases(
        self, project_id: str, key_id: str, limit: int, cursor: str | None = None
    ) -> AliasPage:
        """A page of the aliases pointing at the key, in alias-name order. Raises ValueError for a
        malformed cursor or a limit below 1."""

    @abc.abstractmethod
    def list_project_aliases(self, project_id: str, limit: int, cursor: str | None = None) -> AliasPage:
        """A page of the project's aliases (of all its keys), in alias-name order. Raises
        ValueError for a malformed cursor or a limit below 1."""

    @abc.abstractmethod
    def delete_alias(self, domain_id: str, alias: str, *, key_id: str) -> AliasRecord:
        """Delete the alias if it points at ``key_id`` and return the deleted record; else (no
        such alias, or it points at another key) :class:`AliasNotFound`, and nothing changes."""

    @abc.abstractmethod
    def move_alias(self, current: AliasRecord, *, to_key_id: str, update_time: int) -> AliasRecord:
        """Point the alias ``current`` (as read by the caller) at ``to_key_id``, a key of the same
        project, with ``update_time``, only if it still points at ``current.key_id`` in
        ``current.project_id``; return the stored record. :class:`AliasNotFound` if the alias is
        gone, :class:`skms.errors.ConcurrentUpdate` if it points at another key meanwhile."""
