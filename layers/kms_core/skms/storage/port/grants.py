"""The grant port: grants on keys (spec §7 ops 28-32, access-control.md §3), records of their own.

A grant belongs to one key of one project. Every read is a query, never a scan:

- by key (list-grants): ascending by ``grant_id`` (a stable order), paged by the last id seen,
  with the key's count of grants (a counter kept in the same write as each create and delete);
- by grantee and key id (the grant decision, and a foreign grantee finding the key it addresses
  by its bare id, access-control §3.3): every grant held by one ``(type, principal)`` on a key id,
  whatever the key's project;
- by who may retire (list-retirable-grants): each grant is indexed under the "retirers" of
  :func:`retirers_of` (its issuer, its retiring principal, its grantee when it holds
  ``retire-grant``), and a listing takes the union of the caller's retirer names, paged by id.

``create_grant`` checks the per-key limit atomically with the write (:class:`GrantLimitExceeded`,
nothing written): two concurrent creates at 99 never make 101. The store does not check the key or
the caller: the grant operations do that first (through the gate); the deletion sweep removes a
deleted key's grants (``delete_key_grants``).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

GRANTEE_USER = "user"
GRANTEE_DOMAIN = "domain"
RETIRE_GRANT = "retire-grant"


@dataclass(frozen=True, slots=True)
class GrantRecord:
    grant_id: str  # 64 hex characters
    key_id: str
    project_id: str  # the key's project
    domain_id: str  # the key's domain
    name: str  # "" when none
    grantee_principal: str  # a user id or a domain id
    grantee_principal_type: str  # GRANTEE_USER | GRANTEE_DOMAIN
    operations: tuple[str, ...]
    issuing_principal: str  # the creator's user id, or its domain id for the account
    retiring_principal: str  # "" when none
    creation_date: int  # epoch milliseconds


def principal_retirer(principal_id: str) -> str:
    """The retirer name of one principal (a user id, or a domain id for the account itself)."""
    return f"P#{principal_id}"


def domain_retirer(domain_id: str) -> str:
    """The retirer name every principal of a domain answers to (``domain``-type grantees)."""
    return f"D#{domain_id}"


def retirers_of(grant: GrantRecord) -> tuple[str, ...]:
    """Who may retire ``grant`` (access-control §3.3), as retirer names, sorted, no duplicates: its
    issuer, its retiring principal, and its grantee if the grant holds ``retire-grant`` (a
    ``domain`` grantee: every principal of that domain)."""
    names = {principal_retirer(grant.issuing_principal)}
    if grant.retiring_principal:
        names.add(principal_retirer(grant.retiring_principal))
    if RETIRE_GRANT in grant.operations:
        if grant.grantee_principal_type == GRANTEE_DOMAIN:
            names.add(domain_retirer(grant.grantee_principal))
        else:
            names.add(principal_retirer(grant.grantee_principal))
    return tuple(sorted(names))


@dataclass(frozen=True, slots=True)
class GrantPage:
    grants: list[GrantRecord]  # ascending by grant_id
    next_after: str | None  # the last grant_id of the page when more follow, else None
    total: int  # every match, whatever the page


class GrantStore(abc.ABC):
    @abc.abstractmethod
    def create_grant(self, grant: GrantRecord, *, max_per_key: int) -> None:
        """Record ``grant``; :class:`GrantLimitExceeded` (nothing written) if its key already has
        ``max_per_key`` grants, checked atomically with the write."""

    @abc.abstractmethod
    def get_grant(self, project_id: str, key_id: str, grant_id: str) -> GrantRecord | None:
        """The grant ``grant_id`` of the key, or None (no such grant on this key)."""

    @abc.abstractmethod
    def list_key_grants(
        self, project_id: str, key_id: str, limit: int, after: str | None = None
    ) -> GrantPage:
        """The key's grants with an id above ``after``, ascending, at most ``limit`` (>= 1)."""

    @abc.abstractmethod
    def count_key_grants(self, project_id: str, key_id: str) -> int:
        """How many grants the key has (a counter read, whatever the number)."""

    @abc.abstractmethod
    def max_grants_per_key(self, project_id: str) -> int:
        """The most grants any one key of the project has (0 when none): user-quotas'
        ``grant_per_CMK`` figure. Reads one counter per key that has grants."""

    @abc.abstractmethod
    def grants_held(self, grantee_type: str, grantee: str, key_id: str) -> list[GrantRecord]:
        """Every grant held by ``(grantee_type, grantee)`` on a key of id ``key_id``, in any
        project (the caller checks the project), ascending by grant_id."""

    @abc.abstractmethod
    def retirable_grant(self, retirers: Sequence[str], grant_id: str) -> GrantRecord | None:
        """The grant ``grant_id`` if one of ``retirers`` may retire it, else None."""

    @abc.abstractmethod
    def list_retirable(self, retirers: Sequence[str], limit: int, after: str | None = None) -> GrantPage:
        """The grants one of ``retirers`` may retire, each once, ids above ``after``, ascending,
        at most ``limit`` (>= 1)."""

    @abc.abstractmethod
    def delete_grant(self, project_id: str, key_id: str, grant_id: str) -> bool:
        """Remove the grant and its index entries; False if the key has no such grant."""

    @abc.abstractmethod
    def delete_key_grants(self, project_id: str, key_id: str) -> int:
        """Remove every grant of the key (the deletion sweep); how many were removed."""
