"""Import of key material (spec §10 ops 43-45; access-control §6).

- get-parameters-for-import: a fresh RSA-2048 wrapping key per call and an import token valid for
  24 h that carries its private half sealed by the root key (:mod:`skms.crypto.importing`): nothing
  is stored. External keys only (KMS.0309), pending import (KMS.0310): the gate's ``Use.IMPORT``.
- import-key-material: the token is checked (KMS.2605 malformed or tampered, KMS.2603 another key's,
  KMS.2601 expired), the material unwrapped and checked (KMS.2604 length, KMS.2608/2609/2610 for
  private keys), then stored like generated material: wrapped by the root key as version 0, bound
  to the key's spec, usage and public key. The key becomes enabled. A key keeps the SHA-256 digest
  of its first material, wrapped by the root key (``KeyRecord.material_fingerprint``), so a
  re-import must bring the same material (KMS.2606); ciphertexts made before a deletion therefore
  open again after it (they name version 0).
- ``expiration_time``: in the future (KMS.2602); from that moment the gate treats the key as
  pending import (:meth:`skms.domain.KeyRecord.material_expired`) and the due-key sweep erases the
  material (:func:`skms.logic.sweep.erase_expired_material`).
- delete-imported-key-material: enabled or disabled keys (KMS.2701), not asymmetric ones
  (KMS.2702), by the gate's ``Use.DELETE_MATERIAL``; the material is erased and the key is
  pending import again.

Imported keys never rotate: the gate refuses ``Use.ROTATE`` for every external key (KMS.0312).
Choices where the docs are silent: an RSA-OAEP ciphertext that does not decrypt under the
token's wrapping key is KMS.0308; SM2 private keys are not importable (no PKCS#8 parser for them
here), nor is SM2_ENCRYPT offered as a wrapping algorithm.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from skms import errors
from skms.caller import Caller
from skms.clock import now_ms
from skms.crypto import importing as wrapping
from skms.crypto import material as materials
from skms.crypto.errors import CryptoError
from skms.crypto.keyspec import KeySpec
from skms.domain import KeyRecord, KeyState, KeyVersions
from skms.keyring import key_binding
from skms.logic.gate import Use, open_key
from skms.models.importing import (
    CreateParametersForImportResponseBody,
    DeleteImportedKeyMaterialResponseBody,
    GetParametersForImportRequestBody,
    ImportKeyMaterialRequestBody,
    ImportKeyMaterialResponseBody,
)
from skms.models.lifecycle import OperateKeyRequestBody
from skms.observability import logger
from skms.runtime import Services

TOKEN_LIFETIME_S = 86_400  # access-control §6.1: token and wrapping key valid 24 h
MAX_ATTEMPTS = 8


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidParameter("Invalid Base64.") from None


def _fingerprint_context(record: KeyRecord) -> dict[str, str]:
    # Purpose cmk-material (the import function's root-key grant), told apart from every version's
    # material context by key_version and by the absence of the key binding.
    return {
        "purpose": "cmk-material",
        "project_id": record.project_id,
        "key_id": record.key_id,
        "key_version": "fingerprint",
        "digest": "sha256",
    }


def _check_fingerprint(services: Services, record: KeyRecord, material: bytes) -> str:
    """The record's fingerprint for ``material``: a new one for a first import; else the stored
    one, if ``material`` is the material first imported (KMS.2606 if not)."""
    digest = hashlib.sha256(material).digest()
    if record.material_fingerprint is None:
        wrapped = services.keyring.root.wrap(digest, _fingerprint_context(record))
        return base64.b64encode(wrapped).decode("ascii")
    try:
        kept = services.keyring.root.unwrap(
            base64.b64decode(record.material_fingerprint), _fingerprint_context(record)
        )
    except (CryptoError, binascii.Error, ValueError) as exc:
        logger.error(
            "the fingerprint of imported material could not be unwrapped",
            extra={"key_id": record.key_id, "project_id": record.project_id},
        )
        raise errors.InternalError("The key material is unavailable.") from exc
    if not hmac.compare_digest(kept, digest):
        raise errors.MaterialMismatch
    return record.material_fingerprint


def material_erased(record: KeyRecord) -> KeyRecord:
    """``record`` without its imported material: pending import, versions destroyed (their
    metadata and the fingerprint kept)."""
    return record.replace(
        key_state=KeyState.PENDING_IMPORT,
        versions=record.versions.erased(),
        expiration_time=None,
    )


def get_parameters_for_import(
    body: GetParametersForImportRequestBody, caller: Caller, services: Services
) -> CreateParametersForImportResponseBody:
    """§10 op 43."""
    try:
        algorithm = wrapping.WrappingAlgorithm[body.wrapping_algorithm]
    except KeyError:
        raise errors.InvalidParameter(
            "wrapping_algorithm must be RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1."
        ) from None
    record = open_key(services, caller, body.key_id, Use.IMPORT).record
    private, public_der = wrapping.new_wrapping_key()
    expires = now_ms() // 1000 + TOKEN_LIFETIME_S
    token = wrapping.seal_token(
        services.keyring.root,
        record.project_id,
        record.key_id,
        algorithm=algorithm,
        expires=expires,
        private=private,
    )
    return CreateParametersForImportResponseBody(
        key_id=record.key_id,
        import_token=token,
        expiration_time=expires,
        public_key=base64.b64encode(public_der).decode("ascii"),
    )


def _wrapping_key(
    services: Services, record: KeyRecord, token_text: str, now: int
) -> tuple[wrapping.WrappingPrivateKey, wrapping.WrappingAlgorithm]:
    try:
        token = wrapping.parse_token(token_text)
    except wrapping.TokenMalformed:
        raise errors.ImportTokenInvalid from None
    if token.key_id != record.key_id:
        raise errors.ImportTokenKeyMismatch
    if token.expires * 1000 <= now:
        raise errors.ImportTokenExpired
    try:
        return wrapping.open_token(services.keyring.root, record.project_id, token), token.algorithm
    except wrapping.TokenInvalid:
        raise errors.ImportTokenInvalid from None


def _unwrap_material(
    body: ImportKeyMaterialRequestBody,
    spec: KeySpec,
    private: wrapping.WrappingPrivateKey,
    algorithm: wrapping.WrappingAlgorithm,
) -> bytes:
    encrypted = _b64decode(body.encrypted_key_material)
    try:
        if wrapping.material_length(spec) is not None:
            return wrapping.unwrap_symmetric(private, algorithm, spec, encrypted)
        if spec not in wrapping.IMPORTABLE_ASYMMETRIC:
            raise errors.PrivateKeyInvalid(f"{spec.value} private keys cannot be imported.")
        if not body.encrypted_privatekey:
            raise errors.PrivateKeyMissing
        wrapped_private = _b64decode(body.encrypted_privatekey)
        return wrapping.unwrap_asymmetric(private, algorithm, spec, encrypted, wrapped_private)
    except wrapping.UnwrapFailed:
        raise errors.InvalidParameter(
            "encrypted_key_material does not decrypt under the wrapping key of the import token."
        ) from None
    except wrapping.MaterialLength:
        raise errors.InvalidMaterialLength(
            f"{spec.value} key material must be {wrapping.material_length(spec)} bytes."
        ) from None
    except wrapping.TemporaryKeyLength:
        raise errors.InvalidTemporaryKey from None
    except wrapping.PrivateKeyRejected:
        raise errors.PrivateKeyInvalid(
            f"encrypted_privatekey must be a {spec.value} private key, PKCS#8 DER wrapped with"
            " AES key wrap with padding under the temporary key."
        ) from None


def import_key_material(
    body: ImportKeyMaterialRequestBody, caller: Caller, services: Services
) -> ImportKeyMaterialResponseBody:
    """§10 op 44: state 5 -> 2."""
    for _ in range(MAX_ATTEMPTS):
        record = open_key(services, caller, body.key_id, Use.IMPORT).record
        now = now_ms()
        private, algorithm = _wrapping_key(services, record, body.import_token, now)
        expires_ms = None if body.expiration_time is None else body.expiration_time * 1000
        if expires_ms is not None and expires_ms <= now:
            raise errors.MaterialExpiryInPast
        material = _unwrap_material(body, record.key_spec, private, algorithm)
        fingerprint = _check_fingerprint(services, record, material)
        public_key_pem = materials.public_key_pem(record.key_spec, material)
        binding = key_binding(record.key_spec, record.key_usage, public_key_pem)
        # Version 0, as the key's only material ever is (external keys do not rotate): what
        # was encrypted before a deletion names it. Cached only once the write has won.
        wrapped = services.keyring.wrap(
            record.project_id, record.key_id, 0, material, binding, remember=False
        )
        updated = record.replace(
            key_state=KeyState.ENABLED,
            versions=KeyVersions.first(wrapped, now),
            public_key_pem=public_key_pem,
            expiration_time=expires_ms,
            material_fingerprint=fingerprint,
        )
        try:
            services.stores.keys.update_key(updated, record.revision)
        except errors.ConcurrentUpdate:
            continue
        return ImportKeyMaterialResponseBody()
    raise errors.ServiceUnavailable("The key is being changed concurrently; retry the request.")


def delete_imported_key_material(
    body: OperateKeyRequestBody, caller: Caller, services: Services
) -> DeleteImportedKeyMaterialResponseBody:
    """§10 op 45: state 2 or 3 -> 5."""
    for _ in range(MAX_ATTEMPTS):
        record = open_key(services, caller, body.key_id, Use.DELETE_MATERIAL).record
        try:
            services.stores.keys.update_key(material_erased(record), record.revision)
        except errors.ConcurrentUpdate:
            continue
        services.keyring.forget(record)
        return DeleteImportedKeyMaterialResponseBody()
    raise errors.ServiceUnavailable("The key is being changed concurrently; retry the request.")
