"""The in-memory fake of the :class:`GrantStore` port. Reads filter every grant held: fine for a
fake (the real adapters query a partition or an index per lookup)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from skms.storage.port import GrantLimitExceeded, GrantPage, GrantRecord, GrantStore, retirers_of


def _page(grants: Iterable[GrantRecord], limit: int, after: str | None) -> GrantPage:
    ordered = sorted(grants, key=lambda grant: grant.grant_id)
    following = [grant for grant in ordered if after is None or grant.grant_id > after]
    page = following[:limit]
    more = len(following) > limit
    return GrantPage(page, page[-1].grant_id if more and page else None, len(ordered))


class InMemoryGrantStore(GrantStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[tuple[str, str, str], GrantRecord] = {}  # (project, key, grant id)

    def _of_key(self, project_id: str, key_id: str) -> list[GrantRecord]:
        return [g for (p, k, _), g in self._grants.items() if p == project_id and k == key_id]

    def create_grant(self, grant: GrantRecord, *, max_per_key: int) -> None:
        with self._lock:
            if len(self._of_key(grant.project_id, grant.key_id)) >= max_per_key:
                raise GrantLimitExceeded(grant.key_id)
            self._grants[(grant.project_id, grant.key_id, grant.grant_id)] = grant

    def get_grant(self, project_id: str, key_id: str, grant_id: str) -> GrantRecord | None:
        with self._lock:
            return self._grants.get((project_id, key_id, grant_id))

    def list_key_grants(
        self, project_id: str, key_id: str, limit: int, after: str | None = None
    ) -> GrantPage:
        with self._lock:
            return _page(self._of_key(project_id, key_id), limit, after)

    def count_key_grants(self, project_id: str, key_id: str) -> int:
        with self._lock:
            return len(self._of_key(project_id, key_id))

    def max_grants_per_key(self, project_id: str) -> int:
        counts: dict[str, int] = {}
        with self._lock:
            for project, key_id, _ in self._grants:
                if project == project_id:
                    counts[key_id] = counts.get(key_id, 0) + 1
        return max(counts.values(), default=0)

    def grants_held(self, grantee_type: str, grantee: str, key_id: str) -> list[GrantRecord]:
        with self._lock:
            held = [
                grant
                for grant in self._grants.values()
                if grant.key_id == key_id
                and grant.grantee_principal_type == grantee_type
                and grant.grantee_principal == grantee
            ]
        return sorted(held, key=lambda grant: grant.grant_id)

    def retirable_grant(self, retirers: Sequence[str], grant_id: str) -> GrantRecord | None:
        with self._lock:
            for grant in self._grants.values():
                if grant.grant_id == grant_id and set(retirers_of(grant)) & set(retirers):
                    return grant
        return None

    def list_retirable(self, retirers: Sequence[str], limit: int, after: str | None = None) -> GrantPage:
        with self._lock:
            found = [g for g in self._grants.values() if set(retirers_of(g)) & set(retirers)]
        return _page(found, limit, after)

    def delete_grant(self, project_id: str, key_id: str, grant_id: str) -> bool:
        with self._lock:
            return self._grants.pop((project_id, key_id, grant_id), None) is not None

    def delete_key_grants(self, project_id: str, key_id: str) -> int:
        with self._lock:
            doomed = [key for key in self._grants if key[0] == project_id and key[1] == key_id]
            for key in doomed:
                del self._grants[key]
        return len(doomed)
