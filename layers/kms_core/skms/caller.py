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
    ACCOUNT = "account"  # the domain (account) itself: its bootstrap keys and keys made without a user
    USER = "user"  # an IAM user of the domain (by one of its access keys, or by token)
    DIRECT = "direct"  # another function or service, invoking the function directly


@dataclass(frozen=True, slots=True)
class Identity:
    """The authenticated principal of a request: what idempotency scopes and authorization use."""

    id: str  # the access key, the user name, or "direct"
    kind: PrincipalKind
    domain_id: str
    auth_method: AuthMethod
    # The IAM user (32 hex) the credential belongs to; "" for the account itself and direct invokers,
    # which hold every permission in their own domain (access-control.md §1.2).
    user_id: str = ""

    @property
    def is_account(self) -> bool:
        """The account (root) or a direct invoker: allowed everything in its own domain."""
        return self.kind is not PrincipalKind.USER

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
    # The API operation being served (endpoint()'s name, e.g. "create-datakey"): its IAM action
    # (skms.iam.actions.ACTIONS) is what authorization decides on. "" outside a handler (tools, tests).
    operation: str = ""

    def __post_init__(self) -> None:
        if self.principal is _DIRECT_IN_CALLER_DOMAIN:
            object.__setattr__(self, "principal", Identity.direct(self.domain_id))
