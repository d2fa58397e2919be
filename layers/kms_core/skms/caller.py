"""Who is calling: the principal a request was authenticated as, and the project it acts in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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
