"""The in-memory fake of the :class:`TagStore` port. ``find_keys`` filters the tagged keys of the
project on each call: fine for a fake (the real adapters query an index per tag)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence

from skms.storage.port import TagCondition, TagLimitExceeded, TagMatches, TagStore


def _meets(tags: Mapping[str, str], condition: TagCondition) -> bool:
    return condition.key in tags and (not condition.values or tags[condition.key] in condition.values)


class InMemoryTagStore(TagStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tags: dict[tuple[str, str], dict[str, str]] = {}  # (project_id, key_id) -> tags

    def get_tags(self, project_id: str, key_id: str) -> dict[str, str]:
        with self._lock:
            return dict(sorted(self._tags.get((project_id, key_id), {}).items()))

    def change_tags(
        self,
        project_id: str,
        key_id: str,
        *,
        put: Mapping[str, str],
        remove: Collection[str] = (),
        max_tags: int,
    ) -> dict[str, str]:
        with self._lock:
            current = self._tags.get((project_id, key_id), {})
            changed = {name: value for name, value in current.items() if name not in remove}
            changed.update(put)
            if len(changed) > max_tags:
                raise TagLimitExceeded(key_id)
            if changed:
                self._tags[(project_id, key_id)] = changed
            else:
                self._tags.pop((project_id, key_id), None)
            return dict(sorted(changed.items()))

    def delete_tags(self, project_id: str, key_id: str) -> None:
        with self._lock:
            self._tags.pop((project_id, key_id), None)

    def find_keys(
        self,
        project_id: str,
        conditions: Sequence[TagCondition],
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> TagMatches:
        with self._lock:
            found = sorted(
                key_id
                for (project, key_id), tags in self._tags.items()
                if project == project_id and all(_meets(tags, condition) for condition in conditions)
            )
        end = None if limit is None else offset + limit
        return TagMatches(key_ids=found[offset:end], total=len(found))

    def project_tags(self, project_id: str) -> dict[str, list[str]]:
        values: dict[str, set[str]] = {}
        with self._lock:
            for (project, _key_id), tags in self._tags.items():
                if project == project_id:
                    for name, value in tags.items():
                        values.setdefault(name, set()).add(value)
        return {name: sorted(values[name]) for name in sorted(values)}
