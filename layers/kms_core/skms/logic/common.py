"""What every operation shares: who is calling, and finding a usable key."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from skms import errors
from skms.domain import KeyRecord, KeyState
from skms.keyring import MaterialUnavailable
from skms.runtime import Services

DIRECT_PRINCIPAL_ID = "direct"


class AuthMethod(StrEnum):
    AKSK = "aksk"  # an SDK-HMAC-SHA256 signature (§F6)
    TOKEN = "token"  # noqa: S105 - an X-Auth-Token, not a secret
    DIRECT = "direct"  # a direct Lambda invocation, authorised by IAM


class PrincipalKind(StrEnum):
    ACCOUNT = "account"  # an access key: it belongs to the domain (account) itself
    USER = "user"  # an IAM user of the domain, by token
    DIRECT = "direct"  # another function or service, invoking the function directly


@dataclass(frozen=True, slots=True)
class Identity:
    """The authenticated principal of a request: what idempotency scopes and authorization use."""

    id: str  # the access key, the user name, or "direct"
    kind: PrincipalKind
    domain_id: str
    auth_method: AuthMethod

    @classmethod
    def direct(cls, domain_id: str) -> Identity:
        return cls(DIRECT_PRINCIPAL_ID, PrincipalKind.DIRECT, domain_id, AuthMethod.DIRECT)


# Marks a Caller built without a principal; replaced by the direct principal of its domain.
_DIRECT_IN_CALLER_DOMAIN = Identity.direct("")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls and where: the project and domain a request acts in, its request id, and the
    authenticated principal (established by the authorizer and the signature check, or the direct
    invoker). Built without a principal (tests, tools), it is a direct invocation in its domain."""

    project_id: str
    domain_id: str
    request_id: str
    principal: Identity = _DIRECT_IN_CALLER_DOMAIN

    def __post_init__(self) -> None:
        if self.principal is _DIRECT_IN_CALLER_DOMAIN:
            object.__setattr__(self, "principal", Identity.direct(self.domain_id))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def find_key(services: Services, caller: Caller, key_id: str) -> KeyRecord:
    """The caller's key, or KMS.0207. Keys of other projects are invisible (404, not 403)."""
    record = services.store.get_key(caller.project_id, key_id)
    if record is None or record.deleted_at is not None:  # a deleted key's tombstone is invisible
        raise errors.KeyNotFound
    return record


_STATE_ERRORS: dict[KeyState, type[errors.KmsError]] = {
    KeyState.DISABLED: errors.KeyDisabled,
    KeyState.PENDING_DELETION: errors.KeyPendingDeletion,
    KeyState.FROZEN: errors.KeyFrozen,
    KeyState.PENDING_ACTIVATION: errors.KeyNotEnabled,
    KeyState.PENDING_IMPORT: errors.KeyNotEnabled,
}


def require_enabled(record: KeyRecord) -> None:
    """§F1: a key in state 3 gives KMS.0209, in state 4 KMS.0210; other non-enabled states KMS.1301."""
    if record.key_state is not KeyState.ENABLED:
        raise _STATE_ERRORS.get(record.key_state, errors.KeyNotEnabled)


def key_material(services: Services, record: KeyRecord, version: int) -> bytes:
    try:
        return services.keyring.material(record, version)
    except MaterialUnavailable as exc:
        raise errors.InternalError("The key material is unavailable.") from exc
