"""The grant half of the one authorization decision (access-control.md §3.2–§3.3): which grants a
principal holds on a key, and whether they unlock an API operation. :mod:`skms.iam.decide` asks it
after the caller's own policies (an explicit Deny still wins); the grant operations themselves live in
:mod:`skms.logic.grants`. Reads go through a cache of ``KMS_ACCESS_KEY_CACHE_SECONDS`` (a revoke or
retire takes effect within it; at once in the process that made it)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from skms.caller import Caller, PrincipalKind
from skms.crypto.cache import TtlLruCache
from skms.domain import KeyRecord
from skms.storage.port import GRANTEE_DOMAIN, GRANTEE_USER, GrantRecord

# --- what the grant reads need of the services (skms.services.Services, which imports skms.iam) ---


class GrantReads(Protocol):
    def grants_held(self, grantee_type: str, grantee: str, key_id: str) -> list[GrantRecord]: ...


class _GrantStores(Protocol):
    @property
    def grants(self) -> GrantReads: ...


class GrantServices(Protocol):
    @property
    def stores(self) -> _GrantStores: ...

    @property
    def grants_held(self) -> TtlLruCache[Any] | None: ...


CREATE_GRANT = "create-grant"
RETIRE_GRANT = "retire-grant"

# access-control §3.2: grant operation -> the API operations (Caller.operation names) it unlocks for
# the grantee on the key. create-grant: sub-grants whose operations are among the grantee's own;
# retire-grant: retiring that grant (retire-grant checks which grant, see retire_grant).
UNLOCKS: dict[str, frozenset[str]] = {
    "create-datakey": frozenset({"create-datakey"}),
    "create-datakey-without-plaintext": frozenset({"create-datakey-without-plaintext"}),
    "encrypt-datakey": frozenset({"encrypt-datakey"}),
    "decrypt-datakey": frozenset({"decrypt-datakey"}),
    "describe-key": frozenset({"describe-key"}),
    "encrypt-data": frozenset({"encrypt-data"}),
    "decrypt-data": frozenset({"decrypt-data"}),
    CREATE_GRANT: frozenset({CREATE_GRANT}),
    RETIRE_GRANT: frozenset({RETIRE_GRANT}),
}
GRANTEE_TYPES = (GRANTEE_USER, GRANTEE_DOMAIN)


def principal_id(caller: Caller) -> str:
    """Who the caller is as a grant names principals: an IAM user by its user id, the account
    itself (and a direct invoker) by its domain id."""
    principal = caller.principal
    return principal.user_id if principal.kind is PrincipalKind.USER else principal.domain_id


# -- the grant decision -------------------------------------------------------------------------


def _held(services: GrantServices, grantee_type: str, grantee: str, key_id: str) -> list[GrantRecord]:
    cache = services.grants_held
    entry = (grantee_type, grantee, key_id)
    if cache is not None:
        cached: list[GrantRecord] | None = cache.get(entry)
        if cached is not None:
            return cached
    held = services.stores.grants.grants_held(grantee_type, grantee, key_id)
    if cache is not None:
        cache.put(entry, held)
    return held


def forget(services: GrantServices, grant: GrantRecord) -> None:
    """This process stops trusting its cached reads of the grantee's grants on the key at once
    (other processes: within the cache time)."""
    if services.grants_held is not None:
        services.grants_held.discard((grant.grantee_principal_type, grant.grantee_principal, grant.key_id))


def grants_held(services: GrantServices, caller: Caller, key_id: str) -> list[GrantRecord]:
    """The grants the caller holds on key id ``key_id``, in any project: as a user (its user id; the
    account: its domain id) and as a principal of its domain (``domain`` grantees)."""
    held = _held(services, GRANTEE_USER, principal_id(caller), key_id)
    return held + _held(services, GRANTEE_DOMAIN, caller.domain_id, key_id)


def grant_allows(
    services: GrantServices,
    caller: Caller,
    key: KeyRecord,
    operation: str,
    *,
    grant_operations: Collection[str] | None = None,
    grantee_types: Collection[str] = GRANTEE_TYPES,
) -> bool:
    """True iff the caller holds grants on ``key`` (of the ``grantee_types`` given) whose operations
    unlock the API ``operation`` (:data:`UNLOCKS`; several grants add up). For ``create-grant``,
    ``grant_operations`` (the requested sub-grant's) must be among the operations the caller holds
    (access-control §3.2, inferred: a sub-grant never widens its parent). Key state and an explicit
    Deny are the caller's business (skms.iam.decide); this only reads grants."""
    held = [
        grant
        for grant in grants_held(services, caller, key.key_id)
        if grant.project_id == key.project_id and grant.grantee_principal_type in grantee_types
    ]
    operations = {operation for grant in held for operation in grant.operations}
    if not any(operation in UNLOCKS.get(held_op, frozenset()) for held_op in operations):
        return False
    return operation != CREATE_GRANT or set(grant_operations or ()) <= operations


@dataclass(frozen=True, slots=True)
class GrantedKey:
    """Where a key addressed through a grant lives (a foreign grantee's view of it)."""

    project_id: str
    domain_id: str
    key_id: str
    grants: tuple[GrantRecord, ...]


def find_granted_key(services: GrantServices, caller: Caller, key_id: str) -> GrantedKey | None:
    """The key of id ``key_id`` that the caller holds a grant on, wherever it lives, or None.
    How a grantee of another domain addresses a key: by its bare id under its own project
    (access-control §3.3). Never finds a key by its id alone: only through a grant held."""
    held = grants_held(services, caller, key_id)
    if not held:
        return None
    first = held[0]
    same = tuple(grant for grant in held if grant.project_id == first.project_id)
    return GrantedKey(first.project_id, first.domain_id, key_id, same)
