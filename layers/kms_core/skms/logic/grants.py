"""Grants (spec §7 ops 28-32; access-control.md §3): the five operations and the grant decision.

- create-grant opens the key for :data:`Use.GRANT` (Enabled keys only, KMS.0209/0210/...; never a
  default key, KMS.0211) and records the grant; the limit of 100 per key (KMS.2404) is checked by the
  store atomically with the write. The issuer is the caller's principal: its user id, or its domain
  id for the account itself (and direct invokers).
- revoke-grant is the key owner's: it opens the key (any live state) and removes the grant;
  a grant id not of that key is KMS.2502.
- retire-grant is for whoever §3.3 names: the issuer, the retiring principal, the grantee of a grant
  holding ``retire-grant`` (every principal of a ``domain`` grantee). It finds the grant among those
  the caller may retire (the store's retirer index, whatever project the key is in), so a grantee
  of another domain may retire too. Anyone else gets 403 KMS.0307 when the grant is on a key of
  the caller's project, KMS.2502 when that key has no such grant.
- list-grants pages a key's grants in grant-id order; list-retirable-grants pages what the caller
  may retire. ``limit`` is 1-100 (KMS.1601), ``marker`` the ``next_marker`` of the previous page
  (KMS.1602 otherwise, also for another listing's marker).

The grant decision, :func:`grant_allows`, says whether the caller holds a grant on a key that
unlocks an API operation (the table :data:`UNLOCKS`); :func:`find_granted_key` finds the key a
grantee of another domain addresses by its bare id (access-control §3.3). Both read the grants
held through a cache of ``KMS_ACCESS_KEY_CACHE_SECONDS``: a revoke or retire takes effect within it.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass

from skms import errors
from skms.caller import Caller, PrincipalKind
from skms.clock import now_ms
from skms.domain import KeyRecord
from skms.logic.gate import Use, open_key
from skms.models.grants import (
    CreateGrantRequestBody,
    CreateGrantResponseBody,
    Grants,
    ListGrantsRequestBody,
    ListGrantsResponseBody,
    ListRetirableGrantsRequestBody,
    RevokeGrantRequestBody,
)
from skms.runtime import Services
from skms.storage import cursors
from skms.storage.port import (
    GRANTEE_DOMAIN,
    GRANTEE_USER,
    GrantLimitExceeded,
    GrantPage,
    GrantRecord,
    domain_retirer,
    principal_retirer,
)

GRANTS_PER_KEY = 100  # access-control §3.1; user-quotas' grant_per_CMK quota
LIST_LIMIT_MAX = 100  # the SDK: "within the maximum number of grants"
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


def _retirers(caller: Caller) -> list[str]:
    return [principal_retirer(principal_id(caller)), domain_retirer(caller.domain_id)]


# -- the grant decision -------------------------------------------------------------------------


def _held(services: Services, grantee_type: str, grantee: str, key_id: str) -> list[GrantRecord]:
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


def _forget(services: Services, grant: GrantRecord) -> None:
    """This process stops trusting its cached reads of the grantee's grants on the key at once
    (other processes: within the cache time)."""
    if services.grants_held is not None:
        services.grants_held.discard((grant.grantee_principal_type, grant.grantee_principal, grant.key_id))


def grants_held(services: Services, caller: Caller, key_id: str) -> list[GrantRecord]:
    """The grants the caller holds on key id ``key_id``, in any project: as a user (its user id; the
    account: its domain id) and as a principal of its domain (``domain`` grantees)."""
    held = _held(services, GRANTEE_USER, principal_id(caller), key_id)
    return held + _held(services, GRANTEE_DOMAIN, caller.domain_id, key_id)


def grant_allows(
    services: Services,
    caller: Caller,
    key: KeyRecord,
    operation: str,
    *,
    grant_operations: Collection[str] | None = None,
) -> bool:
    """True iff the caller holds grants on ``key`` whose operations unlock the API ``operation``
    (:data:`UNLOCKS`; several grants add up). For ``create-grant``, ``grant_operations`` (the
    requested sub-grant's) must be among the operations the caller holds (access-control §3.2,
    inferred: a sub-grant never widens its parent). Key state and an explicit Deny are the
    caller's business (skms.iam.decide); this only reads grants."""
    held = [g for g in grants_held(services, caller, key.key_id) if g.project_id == key.project_id]
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


def find_granted_key(services: Services, caller: Caller, key_id: str) -> GrantedKey | None:
    """The key of id ``key_id`` that the caller holds a grant on, wherever it lives, or None.
    How a grantee of another domain addresses a key: by its bare id under its own project
    (access-control §3.3). Never finds a key by its id alone: only through a grant held."""
    held = grants_held(services, caller, key_id)
    if not held:
        return None
    first = held[0]
    same = tuple(grant for grant in held if grant.project_id == first.project_id)
    return GrantedKey(first.project_id, first.domain_id, key_id, same)


# -- the operations -----------------------------------------------------------------------------


def _operations(requested: list[str]) -> tuple[str, ...]:
    """§3.1/§7 op 28: not empty, not create-grant alone (KMS.2401), each of the enum; kept in the
    order given, each once."""
    unknown = [operation for operation in requested if operation not in UNLOCKS]
    if unknown:
        raise errors.InvalidParameter(f"Invalid parameter operations: unknown operation {unknown[0]!r}.")
    operations = tuple(dict.fromkeys(requested))
    if not operations or operations == (CREATE_GRANT,):
        raise errors.InvalidGrantOperations("operations must not be empty nor create-grant alone.")
    return operations


def create_grant(body: CreateGrantRequestBody, caller: Caller, services: Services) -> CreateGrantResponseBody:
    """op 28."""
    operations = _operations(body.operations)
    grantee_type = body.grantee_principal_type or GRANTEE_USER
    if grantee_type not in GRANTEE_TYPES:
        raise errors.InvalidParameter("grantee_principal_type must be user or domain.")
    record = open_key(services, caller, body.key_id, Use.GRANT).record
    grant = GrantRecord(
        grant_id=secrets.token_hex(32),
        key_id=record.key_id,
        project_id=record.project_id,
        domain_id=record.domain_id,
        name=body.name or "",
        grantee_principal=body.grantee_principal,
        grantee_principal_type=grantee_type,
        operations=operations,
        issuing_principal=principal_id(caller),
        retiring_principal=body.retiring_principal or "",
        creation_date=now_ms(),
    )
    try:
        services.stores.grants.create_grant(grant, max_per_key=GRANTS_PER_KEY)
    except GrantLimitExceeded:
        raise errors.TooManyGrantsOnKey(f"A key has at most {GRANTS_PER_KEY} grants.") from None
    _forget(services, grant)
    return CreateGrantResponseBody(grant_id=grant.grant_id)


def revoke_grant(body: RevokeGrantRequestBody, caller: Caller, services: Services) -> None:
    """op 29: the key owner's (access-control §3.3); its permission is decided by the gate."""
    record = open_key(services, caller, body.key_id, Use.MANAGE).record
    grant_id = body.grant_id.lower()
    grant = services.stores.grants.get_grant(record.project_id, record.key_id, grant_id)
    if grant is None or not services.stores.grants.delete_grant(record.project_id, record.key_id, grant_id):
        raise errors.GrantKeyMismatch
    _forget(services, grant)


def retire_grant(body: RevokeGrantRequestBody, caller: Caller, services: Services) -> None:
    """op 30: by the issuer, the retiring principal, or a grantee whose grant holds retire-grant."""
    grants = services.stores.grants
    grant_id = body.grant_id.lower()
    grant = grants.retirable_grant(_retirers(caller), grant_id)
    if grant is None:
        # Not the caller's to retire: say why only about a key of the caller's own project.
        record = open_key(services, caller, body.key_id, Use.DESCRIBE).record
        if grants.get_grant(record.project_id, record.key_id, grant_id) is None:
            raise errors.GrantKeyMismatch
        raise errors.AccessDenied("The caller may not retire this grant.")
    if grant.key_id != body.key_id:
        raise errors.GrantKeyMismatch
    if not grants.delete_grant(grant.project_id, grant.key_id, grant.grant_id):
        raise errors.GrantKeyMismatch  # retired or revoked meanwhile
    _forget(services, grant)


def _limit(text: str | None) -> int:
    if text is None or text == "":
        return LIST_LIMIT_MAX
    if not 1 <= int(text) <= LIST_LIMIT_MAX:
        raise errors.InvalidLimit(f"limit must be between 1 and {LIST_LIMIT_MAX}.")
    return int(text)


def _after(scope: tuple[str, ...], marker: str | None) -> str | None:
    if not marker:
        return None
    try:
        (after,) = cursors.decode(scope, marker, 1)
    except ValueError:
        raise errors.InvalidMarker("marker must be a next_marker returned by the same listing.") from None
    return after


def _listing(page: GrantPage, scope: tuple[str, ...]) -> ListGrantsResponseBody:
    more = page.next_after is not None
    return ListGrantsResponseBody(
        grants=[Grants.of(grant) for grant in page.grants],
        next_marker=cursors.encode(scope, (page.next_after,)) if page.next_after is not None else "",
        truncated="true" if more else "false",
        total=page.total,
    )


def list_grants(body: ListGrantsRequestBody, caller: Caller, services: Services) -> ListGrantsResponseBody:
    """op 31: the key's grants, in grant-id order."""
    limit = _limit(body.limit)
    record = open_key(services, caller, body.key_id, Use.DESCRIBE).record
    scope = ("grants", record.project_id, record.key_id)
    after = _after(scope, body.marker)
    page = services.stores.grants.list_key_grants(record.project_id, record.key_id, limit, after)
    return _listing(page, scope)


def list_retirable_grants(
    body: ListRetirableGrantsRequestBody, caller: Caller, services: Services
) -> ListGrantsResponseBody:
    """op 32: the grants the caller may retire (see :func:`retire_grant`), in grant-id order."""
    limit = _limit(body.limit)
    retirers = _retirers(caller)
    scope = ("retirable-grants", *retirers)
    after = _after(scope, body.marker)
    return _listing(services.stores.grants.list_retirable(retirers, limit, after), scope)
