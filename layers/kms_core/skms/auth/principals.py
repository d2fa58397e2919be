"""Access keys, users, project claims and custom policies: created, changed, stored (secrets
wrapped), and looked up through a cache. The operator's CLI and the local bootstrap call these;
nothing deployed writes a principal.

- A project belongs to the first domain that claims it (:func:`claim_projects`); a credential of
  a domain is made only for the domain's own projects, never for another's.
- Every change of a user or an access key is a read-modify-write conditional on the version read,
  retried on a conflict (:func:`change_user`, :func:`change_access_key`): no update is lost.
- A user's ``token_epoch`` moves on disable, password and project changes: its earlier tokens
  stop working (the authorizer compares the token's epoch with the user's).
"""

from __future__ import annotations

import functools
import hmac
import json
import os
import secrets
import string
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace

from skms.auth import passwords, tokens
from skms.auth.request_signing import SigningSecret
from skms.clock import now_ms
from skms.crypto.errors import CryptoError
from skms.domain import AccessKeyRecord, PolicyRecord, ProjectClaim, UserRecord
from skms.iam.policy import SYSTEM_POLICIES, PolicyError, parse_policy
from skms.services import Services
from skms.storage.port import PrincipalExists

ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
ACCESS_KEY_LEN = 20  # Huawei AKs are 20 upper-case alphanumerics
SECRET_KEY_LEN = 40
TOKEN_KEY_NAME = "token-signing-key"  # noqa: S105 - the name of a stored secret


class PrincipalError(Exception):
    """A management request that cannot be done; the message is for the operator (no secret)."""


class CredentialConflict(PrincipalError):
    """An access key exists with another secret or domain than the one asked for."""


class ProjectOwned(PrincipalError):
    """The project belongs to another domain (its owner is not named)."""


class UnknownPrincipal(PrincipalError):
    """No such user, access key or policy in this domain."""


class InvalidPolicy(PrincipalError):
    """A policy document or name that cannot be stored (the message names the statement)."""


# Retries of a conditional change that lost to a concurrent one (each retry re-reads).
CHANGE_ATTEMPTS = 20


def _secret_context(access_key: str, domain_id: str) -> dict[str, str]:
    return {"purpose": "access-key-secret", "access_key": access_key, "domain_id": domain_id}


def _service_secret_context(name: str) -> dict[str, str]:
    return {"purpose": "service-secret", "name": name}


def new_access_key() -> tuple[str, str]:
    access_key = "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(ACCESS_KEY_LEN))
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(SECRET_KEY_LEN))
    return access_key, secret


def create_access_key(
    services: Services,
    *,
    domain_id: str,
    project_ids: tuple[str, ...],
    access_key: str | None = None,
    secret_key: str | None = None,
    description: str = "",
    user_id: str = "",
) -> AccessKeyRecord:
    """Store an access key (a fresh random one unless given) of the account, or of the user
    ``user_id``. Raises PrincipalExists. The projects must have been claimed by the caller."""
    if access_key is None or secret_key is None:
        access_key, secret_key = new_access_key()
    wrapped = services.keyring.root.wrap(secret_key.encode("utf-8"), _secret_context(access_key, domain_id))
    record = AccessKeyRecord(
        access_key=access_key,
        secret_wrapped=wrapped,
        domain_id=domain_id,
        project_ids=project_ids,
        created_at=now_ms(),
        description=description,
        user_id=user_id,
    )
    services.stores.principals.create_access_key(record)
    return record


def ensure_access_key(
    services: Services, *, access_key: str, secret_key: str, domain_id: str, project_ids: tuple[str, ...]
) -> AccessKeyRecord:
    """Make sure this exact credential exists (local bootstrap); refuse a conflicting one."""
    existing = services.stores.principals.get_access_key(access_key)
    if existing is None:
        try:
            return create_access_key(
                services,
                domain_id=domain_id,
                project_ids=project_ids,
                access_key=access_key,
                secret_key=secret_key,
                description="bootstrap",
            )
        except PrincipalExists:
            existing = services.stores.principals.get_access_key(access_key)
            assert existing is not None
    stored = secret_of(services, existing)
    if existing.domain_id != domain_id or not hmac.compare_digest(stored, secret_key.encode("utf-8")):
        raise CredentialConflict(f"access key {access_key} already exists with another secret or domain")
    if not set(project_ids) <= set(existing.project_ids):
        raise CredentialConflict(
            f"access key {access_key} exists but is not allowed project(s) {project_ids}"
        )
    return existing


def secret_of(services: Services, record: AccessKeyRecord) -> SigningSecret:
    """The plaintext secret key of an access key, from the warm cache or the root key; cached with
    its HMAC key states (:class:`SigningSecret`: the same bytes, ready to verify signatures)."""
    cache_key = ("access-key-secret", record.access_key)
    cached = services.keyring.cache.get(cache_key)
    if isinstance(cached, SigningSecret):
        return cached
    context = _secret_context(record.access_key, record.domain_id)
    secret = SigningSecret(services.keyring.root.unwrap(record.secret_wrapped, context))
    services.keyring.cache.put(cache_key, secret)
    return secret


def cached_secret(services: Services, access_key: str) -> SigningSecret | None:
    """The secret key of an access key the authorizer has just checked, without a store read.

    An access key's secret never changes, so caching it by id is safe; whether the key is still
    enabled is decided, fresh, by the authorizer on every request.
    """
    cached = services.keyring.cache.get(("access-key-secret", access_key))
    if isinstance(cached, SigningSecret):  # only secret_of() caches it, always as a SigningSecret
        return cached
    record = services.stores.principals.get_access_key(access_key)
    return None if record is None else secret_of(services, record)


def create_user(
    services: Services,
    *,
    name: str,
    password: str,
    domain_id: str,
    domain_name: str,
    project_ids: tuple[str, ...],
    policies: tuple[str, ...] = (),
    user_id: str | None = None,
) -> UserRecord:
    """Create an IAM user of ``domain_id`` (no permission unless ``policies`` names some), with a
    fresh 32-hex id unless ``user_id`` is given (fixtures whose sample events name the user).

    Raises :class:`PrincipalExists` (the name is taken in the domain), :class:`ProjectOwned`,
    :class:`UnknownPrincipal` (an unknown policy)."""
    for policy in policies:
        require_policy(services, domain_id, policy)
    if find_user(services, domain_id, name) is not None:
        raise PrincipalExists(name)
    claim_projects(services, domain_id, project_ids)
    record = UserRecord(
        user_id=user_id or uuid.uuid4().hex,
        name=name,
        domain_id=domain_id,
        domain_name=domain_name,
        password_hash=passwords.hash_password(password),
        project_ids=project_ids,
        created_at=now_ms(),
        policies=tuple(dict.fromkeys(policies)),
    )
    services.stores.principals.create_user(record)
    return record


# -- projects ----------------------------------------------------------------------------------


def claim_projects(services: Services, domain_id: str, project_ids: Iterable[str]) -> None:
    """Make every project belong to ``domain_id``: claim the unclaimed ones (create-if-absent),
    accept those it already owns; :class:`ProjectOwned` if one belongs to another domain (checked
    for all before any is claimed, so a refused command claims nothing)."""
    project_ids = tuple(project_ids)
    for project_id in project_ids:
        claim = services.stores.principals.get_project(project_id)
        if claim is not None and claim.domain_id != domain_id:
            raise ProjectOwned(f"project {project_id} belongs to another domain")
    for project_id in project_ids:
        won = services.stores.principals.claim_project(ProjectClaim(project_id, domain_id, now_ms()))
        if won.domain_id != domain_id:  # another domain claimed it a moment ago
            raise ProjectOwned(f"project {project_id} belongs to another domain")


# -- users -------------------------------------------------------------------------------------


def find_user(services: Services, domain_id: str, name: str) -> UserRecord | None:
    """The user ``name`` of the domain: where the CLI made it (domain name = domain id), else the
    one of that name among the domain's users (one made with its own ``--domain-name``)."""
    store = services.stores.principals
    user = store.get_user(domain_id, name)
    if user is not None and user.domain_id == domain_id:
        return user
    return next((u for u in store.list_users(domain_id) if u.name == name), None)


def require_user(services: Services, domain_id: str, name: str) -> UserRecord:
    user = find_user(services, domain_id, name)
    if user is None:
        raise UnknownPrincipal(f"no user {name} in domain {domain_id}")
    return user


def change_user(
    services: Services, domain_id: str, name: str, change: Callable[[UserRecord], UserRecord]
) -> UserRecord:
    """Apply ``change`` to the user's current record, conditionally on its version, re-reading
    and retrying when a concurrent change came first. Returns the stored record."""
    store = services.stores.principals
    for _ in range(CHANGE_ATTEMPTS):
        current = require_user(services, domain_id, name)
        changed = replace(change(current), version=current.version + 1)
        if store.replace_user(changed, expected_version=current.version):
            return changed
    raise PrincipalError(f"user {name} kept changing concurrently; try again")


def set_user_enabled(services: Services, domain_id: str, name: str, enabled: bool) -> UserRecord:
    """Disable (its tokens stop working) or enable a user."""

    def change(user: UserRecord) -> UserRecord:
        epoch = user.token_epoch if enabled or not user.enabled else user.token_epoch + 1
        return replace(user, enabled=enabled, token_epoch=epoch)

    return change_user(services, domain_id, name, change)


def set_user_password(services: Services, domain_id: str, name: str, password: str) -> UserRecord:
    """A new password; the user's earlier tokens stop working."""
    password_hash = passwords.hash_password(password)
    return change_user(
        services,
        domain_id,
        name,
        lambda user: replace(user, password_hash=password_hash, token_epoch=user.token_epoch + 1),
    )


def set_user_projects(
    services: Services, domain_id: str, name: str, project_ids: tuple[str, ...]
) -> UserRecord:
    """The user's projects (claimed for the domain); its earlier tokens stop working."""
    claim_projects(services, domain_id, project_ids)
    return change_user(
        services,
        domain_id,
        name,
        lambda user: replace(user, project_ids=project_ids, token_epoch=user.token_epoch + 1),
    )


def attach_policy(services: Services, domain_id: str, name: str, policy: str) -> UserRecord:
    require_policy(services, domain_id, policy)
    return change_user(
        services,
        domain_id,
        name,
        lambda user: user if policy in user.policies else replace(user, policies=(*user.policies, policy)),
    )


def detach_policy(services: Services, domain_id: str, name: str, policy: str) -> UserRecord:
    def change(user: UserRecord) -> UserRecord:
        if policy not in user.policies:
            raise UnknownPrincipal(f"policy {policy} is not attached to user {name}")
        return replace(user, policies=tuple(p for p in user.policies if p != policy))

    return change_user(services, domain_id, name, change)


def delete_user(services: Services, domain_id: str, name: str) -> UserRecord:
    """Delete the user (its tokens stop working) and every access key it owns."""
    user = require_user(services, domain_id, name)
    store = services.stores.principals
    for key in store.list_access_keys(domain_id):
        if key.user_id == user.user_id:
            store.delete_access_key(key.access_key)
    if not store.delete_user(user):
        raise UnknownPrincipal(f"no user {name} in domain {domain_id}")
    return user


# -- access keys -------------------------------------------------------------------------------


def create_user_access_key(services: Services, *, domain_id: str, name: str) -> tuple[AccessKeyRecord, str]:
    """A new access key of the user ``name``: (its record, its secret key)."""
    user = require_user(services, domain_id, name)
    claim_projects(services, domain_id, user.project_ids)
    access_key, secret_key = new_access_key()
    record = create_access_key(
        services,
        domain_id=domain_id,
        project_ids=user.project_ids,
        access_key=access_key,
        secret_key=secret_key,
        description=f"user {name}",
        user_id=user.user_id,
    )
    return record, secret_key


def change_access_key(
    services: Services, access_key: str, change: Callable[[AccessKeyRecord], AccessKeyRecord]
) -> AccessKeyRecord:
    """Like :func:`change_user`, for an access key."""
    store = services.stores.principals
    for _ in range(CHANGE_ATTEMPTS):
        current = store.get_access_key(access_key)
        if current is None:
            raise UnknownPrincipal(f"no access key {access_key}")
        changed = replace(change(current), version=current.version + 1)
        if store.replace_access_key(changed, expected_version=current.version):
            return changed
    raise PrincipalError(f"access key {access_key} kept changing concurrently; try again")


def set_access_key_enabled(services: Services, access_key: str, enabled: bool) -> AccessKeyRecord:
    return change_access_key(services, access_key, lambda record: replace(record, enabled=enabled))


def delete_access_key(services: Services, access_key: str) -> None:
    if not services.stores.principals.delete_access_key(access_key):
        raise UnknownPrincipal(f"no access key {access_key}")


# -- policies ----------------------------------------------------------------------------------

POLICY_NAME_MAX = 128
_POLICY_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_+=.@-")


def create_policy(services: Services, *, domain_id: str, name: str, document: str) -> PolicyRecord:
    """Store a custom policy after validating it (:class:`InvalidPolicy` names the statement);
    :class:`PrincipalExists` if the domain has one of this name."""
    if not 1 <= len(name) <= POLICY_NAME_MAX or not set(name) <= _POLICY_NAME_CHARS:
        raise InvalidPolicy("a policy name is 1-128 characters of letters, digits and _+=.@-")
    if name in SYSTEM_POLICIES:
        raise PrincipalExists(name)
    try:
        parsed = json.loads(document)
    except ValueError as exc:
        raise InvalidPolicy(f"the policy document is not JSON ({exc.__class__.__name__})") from None
    try:
        parse_policy(parsed)
    except PolicyError as exc:
        raise InvalidPolicy(f"invalid policy document: {exc}") from None
    record = PolicyRecord(domain_id, name, uuid.uuid4().hex, document, now_ms())
    services.stores.principals.create_policy(record)
    return record


def require_policy(services: Services, domain_id: str, name: str) -> None:
    """A system policy, or a custom one of the domain; else :class:`UnknownPrincipal`."""
    if name not in SYSTEM_POLICIES and services.stores.principals.get_policy(domain_id, name) is None:
        raise UnknownPrincipal(f"no policy {name} in domain {domain_id} (nor a system policy of that name)")


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown users, made on first use (scrypt is slow at import)."""
    return passwords.hash_password(os.urandom(16).hex())


def authenticate_user(services: Services, *, domain_name: str, name: str, password: str) -> UserRecord | None:
    """The enabled user with this password, else None. Unknown users cost the same scrypt."""
    record = services.stores.principals.get_user(domain_name, name)
    if record is None:
        passwords.verify_password(password, _dummy_hash())
        return None
    if not passwords.verify_password(password, record.password_hash) or not record.enabled:
        return None
    return record


def _token_key_name(key_id: int) -> str:
    """The service secret of token-signing key ``key_id`` (the first keeps its original name)."""
    return TOKEN_KEY_NAME if key_id == 1 else f"{TOKEN_KEY_NAME}#{key_id}"


def _unwrap_token_key(services: Services, key_id: int, stored: bytes) -> bytes:
    try:
        return services.keyring.root.unwrap(stored, _service_secret_context(TOKEN_KEY_NAME))
    except CryptoError as exc:
        raise RuntimeError(f"the stored token key {key_id} cannot be unwrapped with this root key") from exc


def _stored_token_key(services: Services, key_id: int) -> bytes | None:
    """Token-signing key ``key_id``, unwrapped (cached), or None if it was never made."""
    cache_key = ("service-secret", _token_key_name(key_id))
    cached = services.keyring.cache.get(cache_key)
    if cached is not None:
        return cached
    stored = services.stores.service_state.get_secret(_token_key_name(key_id))
    if stored is None:
        return None
    key = _unwrap_token_key(services, key_id, stored)
    services.keyring.cache.put(cache_key, key)
    return key


def current_token_key(services: Services) -> tuple[int, bytes]:
    """The token-signing key new tokens are signed with: (its number, the key). The first one is
    created on first use (once per deployment); :func:`rotate_token_key` adds the next ones. The
    number is cached like the key, so a rotation reaches warm servers within the cache time."""
    cache_key = ("service-secret", "token-signing-key-current")
    cached = services.keyring.cache.get(cache_key)
    key_id = int.from_bytes(cached, "big") if cached is not None else 1
    key = _stored_token_key(services, key_id)
    if cached is not None and key is not None:
        return key_id, key
    if key is None and key_id == 1:
        # Only the very first start creates the key (a cold start of an existing deployment costs
        # one read and one unwrap, not a root-key wrap and a conditional write that fails).
        candidate = services.keyring.root.wrap(os.urandom(32), _service_secret_context(TOKEN_KEY_NAME))
        stored = services.stores.service_state.get_or_create_secret(TOKEN_KEY_NAME, candidate)
        key = _unwrap_token_key(services, 1, stored)
        services.keyring.cache.put(("service-secret", TOKEN_KEY_NAME), key)
    if key is None:  # pragma: no cover - keys are never removed
        raise RuntimeError(f"the token key {key_id} is missing")
    while (newer := _stored_token_key(services, key_id + 1)) is not None:
        key_id, key = key_id + 1, newer
    services.keyring.cache.put(cache_key, key_id.to_bytes(4, "big"))
    return key_id, key


def token_key(services: Services) -> bytes:
    """The current token-signing key (see :func:`current_token_key`)."""
    return current_token_key(services)[1]


def token_key_of(services: Services, key_id: int) -> bytes | None:
    """The key that may have signed a token of key number ``key_id``: the current key or the one
    before it (tokens live 24 hours: a rotation leaves earlier tokens valid until they expire, and
    a second rotation within 24 hours cuts off those of the key two back)."""
    current, key = current_token_key(services)
    if key_id == current:
        return key
    if key_id == current - 1:
        return _stored_token_key(services, key_id)
    return None


def rotate_token_key(services: Services) -> int:
    """Make a new token-signing key current (the operator's CLI); returns its number."""
    current, _ = current_token_key(services)
    candidate = services.keyring.root.wrap(os.urandom(32), _service_secret_context(TOKEN_KEY_NAME))
    services.stores.service_state.get_or_create_secret(_token_key_name(current + 1), candidate)
    services.keyring.cache.discard(("service-secret", "token-signing-key-current"))
    return current_token_key(services)[0]


def issue_token(services: Services, user: UserRecord, project_id: str) -> tuple[str, tokens.TokenClaims]:
    """A token of ``user`` for ``project_id``, carrying its id and token epoch, signed by the
    current token-signing key."""
    key_id, key = current_token_key(services)
    return tokens.issue(
        key,
        domain_id=user.domain_id,
        project_id=project_id,
        user=user.name,
        user_id=user.user_id,
        domain_name=user.domain_name,
        epoch=user.token_epoch,
        key_id=key_id,
    )
