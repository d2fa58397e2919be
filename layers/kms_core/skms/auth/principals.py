"""Access keys, users and the token key: created, stored wrapped, and looked up through a cache."""

from __future__ import annotations

import functools
import hmac
import os
import secrets
import string
import uuid

from skms.auth import passwords
from skms.clock import now_ms
from skms.crypto.errors import CryptoError
from skms.domain import AccessKeyRecord, UserRecord
from skms.runtime import Services
from skms.storage.port import PrincipalExists

ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
ACCESS_KEY_LEN = 20  # Huawei AKs are 20 upper-case alphanumerics
SECRET_KEY_LEN = 40
TOKEN_KEY_NAME = "token-signing-key"  # noqa: S105 - the name of a stored secret


class CredentialConflict(Exception):
    """An access key exists with another secret or domain than the one asked for."""


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
) -> AccessKeyRecord:
    """Store an access key (a fresh random one unless given). Raises PrincipalExists."""
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


def secret_of(services: Services, record: AccessKeyRecord) -> bytes:
    """The plaintext secret key of an access key, from the warm cache or the root key."""
    cache_key = ("access-key-secret", record.access_key)
    cached = services.keyring.cache.get(cache_key)
    if cached is not None:
        return cached
    secret = services.keyring.root.unwrap(
        record.secret_wrapped, _secret_context(record.access_key, record.domain_id)
    )
    services.keyring.cache.put(cache_key, secret)
    return secret


def cached_secret(services: Services, access_key: str) -> bytes | None:
    """The secret key of an access key the authorizer has just checked, without a store read.

    An access key's secret never changes, so caching it by id is safe; whether the key is still
    enabled is decided, fresh, by the authorizer on every request.
    """
    cached = services.keyring.cache.get(("access-key-secret", access_key))
    if cached is not None:
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
) -> UserRecord:
    record = UserRecord(
        user_id=uuid.uuid4().hex,
        name=name,
        domain_id=domain_id,
        domain_name=domain_name,
        password_hash=passwords.hash_password(password),
        project_ids=project_ids,
        created_at=now_ms(),
    )
    services.stores.principals.create_user(record)
    return record


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


def token_key(services: Services) -> bytes:
    """The service's token-signing key: created once per deployment, stored wrapped, cached."""
    cache_key = ("service-secret", TOKEN_KEY_NAME)
    cached = services.keyring.cache.get(cache_key)
    if cached is not None:
        return cached
    context = _service_secret_context(TOKEN_KEY_NAME)
    # Read first: a cold start of an existing deployment costs one read and one unwrap, not a root-key
    # wrap and a conditional write that fails. Only the very first start creates the key.
    stored = services.stores.service_state.get_secret(TOKEN_KEY_NAME)
    if stored is None:
        candidate = services.keyring.root.wrap(os.urandom(32), context)
        stored = services.stores.service_state.get_or_create_secret(TOKEN_KEY_NAME, candidate)
    try:
        key = services.keyring.root.unwrap(stored, context)
    except CryptoError as exc:
        raise RuntimeError("the stored token key cannot be unwrapped with this root key") from exc
    services.keyring.cache.put(cache_key, key)
    return key
