"""The in-memory fake of the :class:`KeyStore` port.

One lock serialises every call, so conditional writes are trivially atomic. Records are immutable
through and through (frozen, their versions a tuple of frozen values), so a caller can never edit
the stored state in place.

Listing walks the project's keys in creation order from the cursor (:mod:`skms.storage.cursors`: the
page's last key, bound to the project; its ``seq`` is found in the project to resume), skipping
tombstones and keys the filters reject, until ``limit + 1`` are found; counting walks them all. That
is fine for a fake: the real adapters filter in their queries.
"""

from __future__ import annotations

import bisect
import threading

from skms.domain import KeyRecord
from skms.errors import ConcurrentUpdate
from skms.storage import codec, cursors
from skms.storage.port import (
    AliasExists,
    KeyExists,
    KeyFilter,
    KeyPage,
    KeyStore,
    QuotaExceeded,
)


def _copy(record: KeyRecord) -> KeyRecord:
    return record  # records are immutable through and through (KeyVersions is a tuple of frozen values)


def _listed(record: KeyRecord, filters: KeyFilter | None) -> bool:
    return codec.is_live(record) and (filters is None or filters.matches(record))


class InMemoryKeyStore(KeyStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[int, KeyRecord]] = {}  # key_id -> (seq, record)
        self._aliases: dict[tuple[str, str], str] = {}  # (project_id, alias) -> key_id
        # project_id -> (seqs, key ids), both in creation order, so a page is a bisect + slice
        self._by_project: dict[str, tuple[list[int], list[str]]] = {}
        self._next_seq = 0

    def create_key(self, record: KeyRecord, *, quota: int | None = None) -> None:
        with self._lock:
            if record.key_id in self._keys:
                raise KeyExists(record.key_id)
            alias = (record.project_id, record.key_alias)
            if alias in self._aliases:
                raise AliasExists(record.key_alias)
            if quota is not None and self._count(record.project_id, None) >= quota:
                raise QuotaExceeded(record.project_id)
            seq, self._next_seq = self._next_seq, self._next_seq + 1
            self._keys[record.key_id] = (seq, _copy(record))
            self._aliases[alias] = record.key_id
            seqs, ids = self._by_project.setdefault(record.project_id, ([], []))
            seqs.append(seq)
            ids.append(record.key_id)

    def _get(self, project_id: str, key_id: str) -> KeyRecord | None:
        entry = self._keys.get(key_id)
        if entry is None or entry[1].project_id != project_id:
            return None
        return entry[1]

    def get_key(self, project_id: str, key_id: str) -> KeyRecord | None:
        with self._lock:
            record = self._get(project_id, key_id)
            return None if record is None else _copy(record)

    def get_key_by_alias(self, project_id: str, alias: str) -> KeyRecord | None:
        with self._lock:
            key_id = self._aliases.get((project_id, alias))
            record = None if key_id is None else self._get(project_id, key_id)
            return None if record is None else _copy(record)

    def update_key(self, record: KeyRecord, expected_revision: int) -> KeyRecord:
        with self._lock:
            entry = self._keys.get(record.key_id)
            if entry is None or entry[1].project_id != record.project_id:
                raise ConcurrentUpdate()
            seq, current = entry
            if current.revision != expected_revision:
                raise ConcurrentUpdate()
            new_alias = (record.project_id, record.key_alias)
            if record.key_alias != current.key_alias:
                if new_alias in self._aliases:
                    raise AliasExists(record.key_alias)
                del self._aliases[(current.project_id, current.key_alias)]
                self._aliases[new_alias] = record.key_id
            stored = _copy(record.replace(revision=expected_revision + 1))
            self._keys[record.key_id] = (seq, stored)
            return _copy(stored)

    def list_keys(
        self, project_id: str, limit: int, cursor: str | None = None, *, filters: KeyFilter | None = None
    ) -> KeyPage:
        if limit < 1:
            raise ValueError("limit must be positive")
        position = None if cursor is None else cursors.key_position(project_id, cursor)
        with self._lock:
            after = -1
            if position is not None:
                entry = self._keys.get(position[1])
                if entry is None or entry[1].project_id != project_id:
                    raise ValueError("invalid cursor")  # no such key in this project
                after = entry[0]
            seqs, ids = self._by_project.get(project_id, ([], []))
            found: list[tuple[int, KeyRecord]] = []  # up to limit + 1, to know whether more follow
            for index in range(bisect.bisect_right(seqs, after), len(seqs)):
                record = self._keys[ids[index]][1]
                if _listed(record, filters):
                    found.append((seqs[index], record))
                    if len(found) > limit:
                        break
            records = [_copy(record) for _, record in found[:limit]]
            next_cursor = None
            if len(found) > limit:
                last = records[-1]
                next_cursor = cursors.key_cursor(project_id, last.creation_date, last.key_id)
            return KeyPage(records=records, next_cursor=next_cursor)

    def count_keys(self, project_id: str, *, filters: KeyFilter | None = None) -> int:
        with self._lock:
            return self._count(project_id, filters)

    def count_default_keys(self, project_id: str) -> int:
        with self._lock:
            ids = self._by_project.get(project_id, ([], []))[1]
            return sum(
                1
                for key_id in ids
                if _listed(self._keys[key_id][1], None) and self._keys[key_id][1].is_default_key
            )

    def _count(self, project_id: str, filters: KeyFilter | None) -> int:
        ids = self._by_project.get(project_id, ([], []))[1]
        return sum(1 for key_id in ids if _listed(self._keys[key_id][1], filters))

    def due_for_deletion(self, now_ms: int, limit: int) -> list[KeyRecord]:
        with self._lock:
            due = [
                _copy(record)
                for _, record in self._keys.values()
                if record.due_at is not None and record.due_at <= now_ms
            ]
        due.sort(key=lambda record: (record.due_at or 0, record.key_id))
        return due[:limit]

    def due_for_rotation(self, now_ms: int, limit: int) -> list[KeyRecord]:
        with self._lock:
            due = [
                record
                for _, record in self._keys.values()
                if record.rotation_due_at is not None and record.rotation_due_at <= now_ms
            ]
        due.sort(key=lambda record: (record.rotation_due_at or 0, record.project_id, record.key_id))
        return due[:limit]
