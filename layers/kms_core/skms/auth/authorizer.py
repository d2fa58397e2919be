"""Authentication and tenancy, in two steps, because API Gateway does not give a REQUEST
authorizer the request body:

1. :func:`authorize` runs as the API's Lambda REQUEST authorizer (and in `skms serve`, before the
   function). It decides everything that does not need the body: the ``X-Auth-Token`` completely
   (MAC, expiry, project: Deny, 403, for a token of another project); for an AK/SK signature, the
   header's form, the access key (exists, enabled), the signed headers and the X-Sdk-Date window.
   It answers with an IAM policy and a context naming the principal; an unauthenticated request
   is refused with :class:`Unauthorized` (API Gateway: 401).
2. :func:`verify_request` runs in every function, first: for an AK/SK request it recomputes the
   signature over the received method, path, query, signed headers and raw body (spec §F6), and
   only then refuses (403) a project the access key may not use, so that a caller without the
   secret learns nothing about the key's projects. The function trusts the authorizer context,
   never a header the caller could set.

Every authentication failure, here or in the function, is answered with one body
(:data:`UNAUTHENTICATED_MESSAGE`, the same as template.yaml's UNAUTHORIZED gateway response): an
unknown access key and a wrong signature must not be told apart by an outsider. The reason is
logged, never returned.

Nothing here logs or returns a secret key, signature or token.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from skms import errors
from skms.auth import request_signing, tokens
from skms.auth.principals import cached_secret, token_key_of
from skms.caller import AuthMethod, Identity, PrincipalKind
from skms.domain import AccessKeyRecord, UserRecord
from skms.services import Services

AUTH_AKSK = AuthMethod.AKSK.value
AUTH_TOKEN = AuthMethod.TOKEN.value

# The one 401 message (template.yaml's UNAUTHORIZED gateway response renders the same body).
UNAUTHENTICATED_MESSAGE = "Incorrect IAM authentication information: the request could not be authenticated."


class Unauthorized(Exception):
    """No valid credentials (API Gateway answers 401). ``reason`` is for the log, not the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__("Unauthorized")
        self.reason = reason


class NotAuthenticated(errors.KmsError):
    """The function's 401: always :data:`UNAUTHENTICATED_MESSAGE`; ``reason`` is for the log only."""

    code: ClassVar[str] = errors.Unauthenticated.code
    status: ClassVar[int] = errors.Unauthenticated.status
    default_message: ClassVar[str] = UNAUTHENTICATED_MESSAGE

    def __init__(self, reason: str) -> None:
        super().__init__(UNAUTHENTICATED_MESSAGE)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Principal:
    method: str
    principal_id: str  # access key or user id
    domain_id: str
    project_id: str
    user: str = ""
    project_allowed: str = "true"  # AK/SK: checked by the function once the signature is verified
    # The IAM user (32 hex) behind the credential: a token's user, or the owner of an access key;
    # "" for an access key of the account itself.
    user_id: str = ""

    def context(self) -> dict[str, str]:
        """The authorizer context: API Gateway passes only flat string/number/bool values."""
        return {
            "auth_method": self.method,
            "principal_id": self.principal_id,
            "domain_id": self.domain_id,
            "project_id": self.project_id,
            "user": self.user,
            "project_allowed": self.project_allowed,
            "user_id": self.user_id,
        }

    def identity(self) -> Identity:
        """The principal as logic sees it (:class:`skms.caller.Caller`): an IAM user (policies
        decide) for a token and a user's access key, the account for the account's own keys."""
        return _identity(self.method, self.principal_id, self.domain_id, self.user_id)


# Per principal, not per request (an Identity is immutable, so requests share one): every request
# of the function asks for one, and a frozen dataclass costs a call per field to build.
@functools.lru_cache(maxsize=1024)
def _identity(method: str, principal_id: str, domain_id: str, user_id: str) -> Identity:
    if method == AUTH_TOKEN:
        return Identity(principal_id, PrincipalKind.USER, domain_id, AuthMethod.TOKEN, user_id)
    if user_id:
        return Identity(principal_id, PrincipalKind.USER, domain_id, AuthMethod.AKSK, user_id)
    return Identity(principal_id, PrincipalKind.ACCOUNT, domain_id, AuthMethod.AKSK)


# Per principal and project, not per request: a Principal is a pure function of its seven values
# (immutable, so requests share one), and nothing read from a store is kept here; the authorizer
# builds one and the function reads one back from the context on every request.
_principal = functools.lru_cache(maxsize=1024)(Principal)


@dataclass(frozen=True, slots=True)
class Decision:
    principal: Principal | None
    allowed: bool
    error_code: str = ""
    error_msg: str = ""

    def policy(self, method_arn: str) -> dict[str, Any]:
        context: dict[str, str] = self.principal.context() if self.principal else {}
        if not self.allowed:
            context.update(error_code=self.error_code, error_msg=self.error_msg)
        return {
            "principalId": self.principal.principal_id if self.principal else "anonymous",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow" if self.allowed else "Deny",
                        "Resource": method_arn,
                    }
                ],
            },
            "context": context,
        }


def _lower_headers(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def _project_of(event: Mapping[str, Any]) -> str:
    project = (event.get("pathParameters") or {}).get("project_id")
    if not isinstance(project, str) or not project:
        raise Unauthorized("no project in the path")
    return project


def _access_key(services: Services, access_key: str) -> AccessKeyRecord | None:
    """The access key's record, read at most every ``KMS_ACCESS_KEY_CACHE_SECONDS`` by a warm
    authorizer (unknown keys are read every time: nothing is cached for them)."""
    cache = services.access_keys
    if cache is not None and (cached := cache.get(access_key)) is not None:
        return cast(AccessKeyRecord, cached)
    record = services.stores.principals.get_access_key(access_key)
    if record is not None and cache is not None:
        cache.put(access_key, record)
    return record


def _cached_user(
    services: Services, cache_key: tuple[str, str, str], read: Callable[[], UserRecord | None]
) -> UserRecord | None:
    """A user record, read at most every ``KMS_ACCESS_KEY_CACHE_SECONDS`` (like access keys), so a
    disable, delete or token-epoch change takes effect within that time."""
    cache = services.access_keys
    if cache is not None and (cached := cache.get(cache_key)) is not None:
        return cast(UserRecord, cached)
    record = read()
    if record is not None and cache is not None:
        cache.put(cache_key, record)
    return record


def _user_by_id(services: Services, domain_id: str, user_id: str) -> UserRecord | None:
    return _cached_user(
        services,
        ("user-id", domain_id, user_id),
        lambda: services.stores.principals.get_user_by_id(domain_id, user_id),
    )


def _user_by_name(services: Services, domain_name: str, name: str) -> UserRecord | None:
    return _cached_user(
        services, ("user", domain_name, name), lambda: services.stores.principals.get_user(domain_name, name)
    )


def _token_user(services: Services, claims: tokens.TokenClaims) -> UserRecord:
    """The token's user, still enabled, with the token's epoch and project; else Unauthorized."""
    user = _user_by_name(services, claims.domain_name, claims.user)
    if user is None or not hmac.compare_digest(user.user_id.encode(), claims.user_id.encode()):
        raise Unauthorized("the token's user no longer exists")
    if not user.enabled:
        raise Unauthorized("the token's user is disabled")
    if user.token_epoch != claims.epoch or user.domain_id != claims.domain_id:
        raise Unauthorized("the token was revoked (the user's token epoch changed)")
    if claims.project_id not in user.project_ids:
        raise Unauthorized("the token's user no longer has the token's project")
    return user


def authorize(event: Mapping[str, Any], services: Services) -> Decision:
    """Step 1 (no body). Raises :class:`Unauthorized`; returns a Deny decision for tenancy."""
    headers = _lower_headers(event)
    project_id = _project_of(event)
    token = headers.get("x-auth-token")
    if token:
        try:
            claims = tokens.verify(lambda key_id: token_key_of(services, key_id), token)
        except tokens.TokenError as exc:
            raise Unauthorized(str(exc)) from None
        user = _token_user(services, claims)
        principal = Principal(
            AUTH_TOKEN, claims.user, claims.domain_id, claims.project_id, claims.user, user_id=user.user_id
        )
        if not hmac.compare_digest(claims.project_id.encode(), project_id.encode()):
            return Decision(principal, False, "KMS.0321", "The project in the URL does not match the token.")
        return Decision(principal, True)

    authorization = headers.get("authorization")
    if not authorization:
        raise Unauthorized("no credentials")
    try:
        parsed = request_signing.parse_authorization(authorization)
        if not request_signing.REQUIRED_SIGNED_HEADERS.issubset(parsed.signed_headers):
            raise request_signing.SignatureError("host and x-sdk-date must be signed")
        request_signing.check_date(headers.get("x-sdk-date", ""))
    except request_signing.SignatureError as exc:
        raise Unauthorized(str(exc)) from None
    record = _access_key(services, parsed.access_key)
    if record is None or not record.enabled:
        raise Unauthorized("unknown or disabled access key")
    projects = record.project_ids
    user_name = ""
    if record.user_id:  # a user's key: usable while the user is, in the user's current projects
        owner = _user_by_id(services, record.domain_id, record.user_id)
        if owner is None or not owner.enabled:
            raise Unauthorized("the access key's user is disabled or deleted")
        projects, user_name = owner.project_ids, owner.name
    # Whether the key may use this project is told only after the signature is verified (in the
    # function): answering 403 here would reveal an access key's projects to anyone who knows it.
    allowed = "true" if project_id in projects else "false"
    return _allow(
        AUTH_AKSK, record.access_key, record.domain_id, project_id, user_name, allowed, record.user_id
    )


@functools.lru_cache(maxsize=1024)
def _allow(  # noqa: PLR0917 - positional: the cache key, as Principal's fields
    method: str,
    principal_id: str,
    domain_id: str,
    project_id: str,
    user: str,
    project_allowed: str,
    user_id: str,
) -> Decision:
    """The Allow decision for a principal: like :data:`_principal`, a pure function of its values,
    built once per principal and project (immutable, so its requests share one)."""
    return Decision(
        _principal(method, principal_id, domain_id, project_id, user, project_allowed, user_id), True
    )


def principal_from_context(context: Mapping[str, Any]) -> Principal:
    """The principal the authorizer established (API Gateway's requestContext.authorizer)."""
    try:
        return _principal(
            str(context["auth_method"]),
            str(context["principal_id"]),
            str(context["domain_id"]),
            str(context["project_id"]),
            str(context.get("user", "")),
            str(context.get("project_allowed", "true")),
            str(context.get("user_id", "")),
        )
    except KeyError:
        raise NotAuthenticated("no authorizer context") from None


def verify_request(event: Mapping[str, Any], body: bytes, services: Services) -> Principal:
    """Step 2, in the function. Raises :class:`skms.errors.KmsError` (401/403)."""
    return verify_signed_request(event, body, services)[0]


def verify_signed_request(
    event: Mapping[str, Any], body: bytes, services: Services
) -> tuple[Principal, request_signing.ParsedAuthorization | None]:
    """:func:`verify_request`, with the verified Authorization of an AK/SK request (None for a
    token), which names the request for replay protection (:func:`request_signing.fingerprint`)."""
    request_context = event.get("requestContext") or {}
    principal = principal_from_context(request_context.get("authorizer") or {})
    project_id = (event.get("pathParameters") or {}).get("project_id")
    if project_id != principal.project_id:
        raise errors.AccessDenied("The credentials may not access this project.")
    if principal.method == AUTH_TOKEN:
        return principal, None
    if principal.method != AUTH_AKSK:
        raise NotAuthenticated(f"unknown authentication method {principal.method[:16]!r}")
    headers = _lower_headers(event)
    secret = cached_secret(services, principal.principal_id)
    if secret is None:
        raise NotAuthenticated("unknown access key")
    raw_path = str(request_context.get("path") or event.get("path") or "")
    multi_query = event.get("multiValueQueryStringParameters")
    query = [(str(k), str(v)) for k, values in multi_query.items() for v in values] if multi_query else []
    try:
        parsed = request_signing.parse_authorization(headers.get("authorization", ""))
        if parsed.access_key != principal.principal_id:
            raise request_signing.SignatureError("The access key changed after authorization.")
        request_signing.verify_lowered(  # names lower-cased by _lower_headers
            authorization=parsed,
            secret_key=secret,
            method=str(event.get("httpMethod", "")),
            raw_path=raw_path,
            query_pairs=query,
            headers=headers,
            body=body,
        )
    except request_signing.SignatureError as exc:
        raise NotAuthenticated(str(exc)) from None
    if principal.project_allowed != "true":
        raise errors.AccessDenied("The credentials may not access this project.")
    return principal, parsed
