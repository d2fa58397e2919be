"""The in-memory fake of the :class:`AliasStore` port. Listing sorts the matching aliases on each
call: fine for a fake (the real adapters read an index in order)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from skms.domain import AliasRecord
from skms.errors import ConcurrentUpdate
from skms.storage import cursors
from skms.storage.port import AliasExists, AliasNotFound, AliasPage, AliasStore


class InMemoryAliasStore(AliasStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._aliases: dict[tuple[str, str], AliasRecord] = {}  # (domain_id, alias) -> record

    def create_alias(self, record: AliasRecord) -> None:
        with self._lock:
            if (record.domain_id, record.alias) in self._aliases:
                raise AliasExists(record.alias)
            self._aliases[(record.domain_id, record.alias)] = record

    def get_alias(self, domain_id: str, alias: str) -> AliasRecord | None:
        with self._lock:
            return self._aliases.get((domain_id, alias))

    def _page(
        self, scope: tuple[str, ...], wanted: Callable[[AliasRecord], bool], limit: int, cursor: str | None
    ) -> AliasPage:
        if limit < 1:
            raise ValueError("limit must be positive")
        after = None if cursor is None else cursors.alias_position(scope, cursor)[1]
        with self._lock:
            found = sorted(
                (record for record in self._aliases.values() if wanted(record)),
                key=lambda record: record.alias,
            )
        if after is not None:
            found = [record for record in found if record.alias > after]
        page = found[:limit]
        next_cursor = None
        if len(found) > limit:
            next_cursor = cursors.alias_cursor(scope, page[-1].domain_id, page[-1].alias)
        return AliasPage(records=page, next_cursor=next_cursor)

    def list_key_aliases(
        self, project_id: str, key_id: str, limit: int, cursor: str | None = None
    ) -> AliasPage:
        return self._page(
            cursors.key_aliases_scope(project_id, key_id),
            lambda record: record.project_id == project_id and record.key_id == key_id,
            limit,
            cursor,
        )

    def list_project_aliases(self, project_id: str, limit: int, cursor: str | None = None) -> AliasPage:
        return self._page(
            cursors.project_aliases_scope(project_id),
            lambda record: record.project_id == project_id,
            limit,
            cursor,
        )

    def delete_alias(self, domain_id: str, alias: str, *, key_id: str) -> AliasRecord:
        with self._lock:
            stored = self._aliases.get((domain_id, alias))
            if stored is None or stored.key_id != key_id:
                raise AliasNotFound(alias)
            del self._aliases[(domain_id, alias)]
            return stored

    def move_alias(self, current: AliasRecord, *, to_key_id: str, update_time: int) -> AliasRecord:
        name = (current.domain_id, current.alias)
        with self._lock:
            stored = self._aliases.get(name)
            if stored is None:
                raise AliasNotFound(current.alias)
            if (stored.key_id, stored.project_id) != (current.key_id, current.project_id):
                raise ConcurrentUpdate()
            moved = dataclasses.replace(stored, key_id=to_key_id, update_time=update_time)
            self._aliases[name] = moved
            return moved
