"""The store-backed :class:`skms.iam.source.PolicySource`: the parsed policies of an IAM user.

``policies_of(domain_id, user_id)`` reads the user by id, then each attached policy by name (a
system policy from :data:`skms.iam.policy.SYSTEM_POLICIES`, else the domain's custom policy), and
caches the parsed result for ``KMS_ACCESS_KEY_CACHE_SECONDS``: warm, a request pays a dictionary
lookup whatever the policies hold, and an attach, detach, disable or delete takes effect within
that time. A user that is unknown, disabled or deleted has no policies; so has a custom policy that
was deleted or no longer parses (it is logged, never half-applied).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from skms.crypto.cache import TtlLruCache
from skms.iam.policy import SYSTEM_POLICIES, Policy, PolicyError, parse_policy
from skms.observability import logger
from skms.storage.port import PrincipalStore

CACHE_ENTRIES = 4096


class StorePolicySource:
    def __init__(
        self, store: PrincipalStore, cache_seconds: float, *, clock: Callable[[], float] | None = None
    ) -> None:
        self._store = store
        self._cache: TtlLruCache[tuple[Policy, ...]] | None = None
        if cache_seconds > 0:
            self._cache = (
                TtlLruCache(CACHE_ENTRIES, cache_seconds)
                if clock is None
                else TtlLruCache(CACHE_ENTRIES, cache_seconds, clock)
            )

    def policies_of(self, domain_id: str, user_id: str) -> tuple[Policy, ...]:
        key = (domain_id, user_id)
        if self._cache is not None and (cached := self._cache.get(key)) is not None:
            return cached
        policies = self._read(domain_id, user_id)
        if self._cache is not None:
            self._cache.put(key, policies)
        return policies

    def _read(self, domain_id: str, user_id: str) -> tuple[Policy, ...]:
        if not user_id:
            return ()
        user = self._store.get_user_by_id(domain_id, user_id)
        if user is None or not user.enabled or user.domain_id != domain_id:
            return ()
        found: list[Policy] = []
        for name in user.policies:
            policy = self._policy(domain_id, name)
            if policy is not None:
                found.append(policy)
        return tuple(found)

    def _policy(self, domain_id: str, name: str) -> Policy | None:
        record = self._store.get_policy(domain_id, name)
        if record is None:
            return SYSTEM_POLICIES.get(name)
        try:
            return parse_policy(json.loads(record.document))
        except (ValueError, PolicyError) as exc:  # stored valid, so only a tampered or older record
            logger.warning(
                "stored policy does not parse; ignored",
                extra={"domain_id": domain_id, "policy": name, "error": type(exc).__name__},
            )
            return None
