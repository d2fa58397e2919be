"""CreateKey (spec §3 op 1)."""

from __future__ import annotations

import uuid

from skms import errors
from skms.caller import Caller
from skms.clock import now_ms
from skms.crypto import material
from skms.crypto.keyspec import ALLOWED_USAGES, KeySpec, KeyUsage, default_usage
from skms.domain import DEFAULT_KEY_SUFFIX, KeyRecord, KeyState, KeyVersions, Origin
from skms.keyring import key_binding
from skms.models.keys import CreateKeyRequestBody, CreateKeyResponseBody, KeyInfo
from skms.runtime import Services
from skms.storage.port import AliasExists, QuotaExceeded


def _spec_and_usage(body: CreateKeyRequestBody) -> tuple[KeySpec, KeyUsage]:
    try:
        spec = KeySpec(body.key_spec or KeySpec.AES_256)
        usage = KeyUsage(body.key_usage) if body.key_usage else default_usage(spec)
    except ValueError:
        raise errors.InvalidAlgorithm("Unsupported key_spec or key_usage.") from None
    if usage not in ALLOWED_USAGES[spec]:
        raise errors.InvalidAlgorithm(f"key_usage {usage.value} is not valid for key_spec {spec.value}.")
    return spec, usage


def create_key(body: CreateKeyRequestBody, caller: Caller, services: Services) -> CreateKeyResponseBody:
    # The /default suffix is reserved for service default keys (seed: 接口约束).
    if body.key_alias.endswith(DEFAULT_KEY_SUFFIX):
        raise errors.InvalidKeyAlias("The suffix /default is reserved for service default keys.")
    spec, usage = _spec_and_usage(body)
    try:
        origin = Origin(body.origin or Origin.KMS)
    except ValueError:
        raise errors.InvalidParameter("origin must be kms or external.") from None
    # Access-control §6.2: symmetric, HMAC, RSA, EC and Ed25519 material can be imported; SM2's cannot here.
    if origin is Origin.EXTERNAL and spec is KeySpec.SM2:
        raise errors.InvalidAlgorithm("SM2 keys cannot be created with origin external.")
    if services.stores.keys.count_keys(caller.project_id) >= services.settings.key_quota:
        raise errors.TooManyKeys
    if services.stores.keys.get_key_by_alias(caller.project_id, body.key_alias) is not None:
        raise errors.DuplicateAlias

    key_id = str(uuid.uuid4())
    created = now_ms()
    versions = KeyVersions()  # an external key has none until its material is imported
    public_key_pem: str | None = None
    if origin is Origin.KMS:
        key_material = material.generate(spec)
        public_key_pem = material.public_key_pem(spec, key_material)
        binding = key_binding(spec, usage, public_key_pem)
        wrapped = services.keyring.wrap(caller.project_id, key_id, 0, key_material, binding)
        versions = KeyVersions.first(wrapped, created)
    record = KeyRecord(
        project_id=caller.project_id,
        key_id=key_id,
        domain_id=caller.domain_id,
        key_alias=body.key_alias,
        key_spec=spec,
        key_usage=usage,
        key_state=KeyState.ENABLED if origin is Origin.KMS else KeyState.PENDING_IMPORT,
        origin=origin,
        creation_date=created,
        key_description=body.key_description or "",
        realm=services.settings.region_id,
        enterprise_project_id=body.enterprise_project_id or "0",
        keystore_id=body.keystore_id or "0",
        versions=versions,
        public_key_pem=public_key_pem,
    )
    try:
        # The count above spares the key generation when the quota is plainly reached; this
        # write re-checks it atomically, so concurrent creates cannot overshoot it.
        services.stores.keys.create_key(record, quota=services.settings.key_quota)
    except AliasExists:
        raise errors.DuplicateAlias from None
    except QuotaExceeded:
        raise errors.TooManyKeys from None
    return CreateKeyResponseBody(
        key_info=KeyInfo(key_id=key_id, domain_id=caller.domain_id, region_id=services.settings.region_id)
    )
