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

from skms import errors
from skms.caller import Caller
from skms.clock import now_ms
from skms.iam.grants import (  # the decision lives with IAM; re-exported
    CREATE_GRANT,
    GRANTEE_TYPES,
    RETIRE_GRANT,
    UNLOCKS,
    GrantedKey,
    find_granted_key,
    forget,
    grant_allows,
    grants_held,
    principal_id,
)
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
    GRANTEE_USER,
    GrantLimitExceeded,
    GrantPage,
    GrantRecord,
    domain_retirer,
    principal_retirer,
)

GRANTS_PER_KEY = 100  # access-control §3.1; user-quotas' grant_per_CMK quota
LIST_LIMIT_MAX = 100  # the SDK: "within the maximum number of grants"

__all__ = [
    "CREATE_GRANT",
    "RETIRE_GRANT",
    "UNLOCKS",
    "GrantedKey",
    "find_granted_key",
    "grant_allows",
    "grants_held",
]


def _retirers(caller: Caller) -> list[str]:
    return [principal_retirer(principal_id(caller)), domain_retirer(caller.domain_id)]


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
    # The request's condition values (access-control §2.4), for policies and for a grantee's
    # sub-grant (its operations within those it holds).
    context = {
        "kms:grantoperations": operations,
        "kms:granteeprincipal": (body.grantee_principal,),
        "kms:granteeprincipaltype": (grantee_type,),
    }
    if body.retiring_principal:
        context["kms:retiringprincipal"] = (body.retiring_principal,)
    record = open_key(services, caller, body.key_id, Use.GRANT, context=context).record
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
    forget(services, grant)
    return CreateGrantResponseBody(grant_id=grant.grant_id)


def revoke_grant(body: RevokeGrantRequestBody, caller: Caller, services: Services) -> None:
    """op 29: the key owner's (access-control §3.3); its permission is decided by the gate."""
    record = open_key(services, caller, body.key_id, Use.MANAGE).record
    grant_id = body.grant_id.lower()
    grant = services.stores.grants.get_grant(record.project_id, record.key_id, grant_id)
    if grant is None or not services.stores.grants.delete_grant(record.project_id, record.key_id, grant_id):
        raise errors.GrantKeyMismatch
    forget(services, grant)


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
    forget(services, grant)


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
