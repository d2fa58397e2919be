"""A fake of the PolicySource port (skms.iam.source): policies held in a dict, calls counted.

The store-backed source lives in skms.auth.policies; the storage fakes of the other ports are in
skms.storage.memory. This one is test-only: it lets authorization be tested without users.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from skms.iam.policy import SYSTEM_POLICIES, Policy, parse_policy


class FakePolicySource:
    """``policies_of(domain, user)``: what :meth:`attach` gave that user (none by default)."""

    def __init__(self) -> None:
        self._attached: dict[tuple[str, str], list[Policy]] = {}
        self.calls: Counter[tuple[str, str]] = Counter()

    def attach(self, domain_id: str, user_id: str, *policies: Policy | str | dict[str, Any]) -> None:
        """Attach parsed policies, system policies by name, or documents (parsed here)."""
        self._attached.setdefault((domain_id, user_id), []).extend(_policy(p) for p in policies)

    def detach_all(self, domain_id: str, user_id: str) -> None:
        self._attached.pop((domain_id, user_id), None)

    def policies_of(self, domain_id: str, user_id: str) -> tuple[Policy, ...]:
        self.calls[(domain_id, user_id)] += 1
        return tuple(self._attached.get((domain_id, user_id), ()))

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def _policy(policy: Policy | str | dict[str, Any]) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str):
        return SYSTEM_POLICIES[policy]
    return parse_policy(policy)


def document(*statements: dict[str, Any], version: str = "5.0") -> dict[str, Any]:
    """A policy document of ``statements``."""
    return {"Version": version, "Statement": list(statements)}
