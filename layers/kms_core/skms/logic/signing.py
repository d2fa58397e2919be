"""Sign, verify and get-publickey under asymmetric CMKs (spec §5 ops 22-24; codes in §F2).

Checks, in order, after the key is found (KMS.0207) and enabled (§F1: 0209, 0210, 1301, 0320):

- sign / verify: a symmetric key is KMS.1115 (an HMAC key KMS.0341); an asymmetric ENCRYPT_DECRYPT key
  KMS.0334; a KEY_AGREEMENT key KMS.0332 (§F2 has no code for it: such a key supports no signing
  algorithm at all, which is what 0332 says); an algorithm the key spec does not take KMS.0332
  (:data:`skms.crypto.signing.SUPPORTED`); DIGEST with ED25519_SHA_512 (pure Ed25519 signs only RAW
  messages) KMS.0308; a DIGEST whose length is not the hash size KMS.0329 (for ED25519_PH_SHA_512 the
  64-byte SHA-512 of the message, Ed25519ph's prehash). Bad Base64 was already KMS.0308 in the model.
- verify checks against the public key kept in clear on the record, so it needs no unwrap; a wrong or
  malformed signature is the normal answer ``"false"``, never an error.
- get-publickey: a symmetric key is KMS.0331 (HMAC KMS.0341). Keys of every usage answer, since an
  ENCRYPT_DECRYPT key's public half is what clients encrypt to, and a KEY_AGREEMENT key's is what the
  peer of derive-shared-secret needs. The PEM goes out with CRLF line breaks,
  as in Huawei's example response; OpenSSL and every PEM reader accept either.
"""

from __future__ import annotations

import base64

from skms import errors
from skms.crypto import signing
from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.domain import KeyRecord
from skms.logic.common import Caller, find_key, key_material, require_enabled
from skms.models.lifecycle import OperateKeyRequestBody
from skms.models.signing import (
    ShowPublicKeyResponseBody,
    SignRequestBody,
    SignResponseBody,
    VerifyRequestBody,
    VerifyResponseBody,
)
from skms.runtime import Services


def sign(body: SignRequestBody, caller: Caller, services: Services) -> SignResponseBody:
    """§5 op 22: Base64 signature by the private half of an enabled SIGN_VERIFY key."""
    record = find_key(services, caller, body.key_id)
    spec, algorithm = _signing_key(record, body.signing_algorithm)
    message = body.message_bytes()
    _check(spec, algorithm, message, body.message_type)  # before the material is unwrapped
    material = key_material(services, record, record.current_version)
    signature = signing.sign(spec, material, algorithm, message, body.message_type)
    return SignResponseBody(key_id=record.key_id, signature=base64.b64encode(signature).decode("ascii"))


def verify(body: VerifyRequestBody, caller: Caller, services: Services) -> VerifyResponseBody:
    """§5 op 23: ``signature_valid`` is the string "true" or "false"."""
    record = find_key(services, caller, body.key_id)
    spec, algorithm = _signing_key(record, body.signing_algorithm)
    message = body.message_bytes()
    _check(spec, algorithm, message, body.message_type)
    signature = body.signature_bytes()
    valid = signing.verify(spec, _stored_pem(record), algorithm, message, body.message_type, signature)
    return VerifyResponseBody(key_id=record.key_id, signature_valid="true" if valid else "false")


def show_public_key(
    body: OperateKeyRequestBody, caller: Caller, services: Services
) -> ShowPublicKeyResponseBody:
    """§5 op 24: the PEM SubjectPublicKeyInfo of an enabled asymmetric key, CRLF line breaks."""
    record = find_key(services, caller, body.key_id)
    require_enabled(record)
    spec = _spec(record)
    if spec.is_symmetric:
        raise errors.UnsupportedForSymmetric("Symmetric keys have no public key.")
    return ShowPublicKeyResponseBody(key_id=record.key_id, public_key=crlf_pem(_stored_pem(record)))


def crlf_pem(pem: str) -> str:
    """The PEM with every line ended by CRLF, including the last (Huawei's get-publickey example)."""
    return "".join(line + "\r\n" for line in pem.strip().splitlines())


# --- shared by the operations above


def _spec(record: KeyRecord) -> KeySpec:
    try:
        spec = KeySpec(record.key_spec)
    except ValueError:
        if record.key_spec.startswith("HMAC"):
            raise errors.UnsupportedForHmac from None
        raise errors.InternalError("Unknown key spec.") from None
    if spec.is_hmac:
        raise errors.UnsupportedForHmac
    return spec


def _signing_key(record: KeyRecord, algorithm_name: str) -> tuple[KeySpec, signing.SigningAlgorithm]:
    """The spec and algorithm of an enabled SIGN_VERIFY key, or the §F2 error."""
    require_enabled(record)
    spec = _spec(record)
    if spec.is_symmetric:
        raise errors.SymmetricKeyCannotSign
    if record.key_usage == KeyUsage.KEY_AGREEMENT.value:
        raise errors.SigningAlgorithmUnsupported("KEY_AGREEMENT keys cannot sign or verify.")
    if record.key_usage != KeyUsage.SIGN_VERIFY.value:
        raise errors.KeyIsEncryptDecrypt
    try:
        algorithm = signing.SigningAlgorithm(algorithm_name)
    except ValueError:  # the model admits only documented names; this is a safety net
        raise errors.SigningAlgorithmUnsupported from None
    if algorithm not in signing.supported_algorithms(spec):
        raise errors.SigningAlgorithmUnsupported(f"{spec.value} keys do not support {algorithm.value}.")
    return spec, algorithm


def _check(spec: KeySpec, algorithm: signing.SigningAlgorithm, message: bytes, message_type: str) -> None:
    try:
        signing.check_request(spec, algorithm, message, message_type)
    except signing.DigestLengthError as exc:
        raise errors.DigestLengthMismatch(str(exc)) from None
    except signing.UnsupportedAlgorithmError as exc:
        raise errors.SigningAlgorithmUnsupported(str(exc)) from None
    except signing.SigningError as exc:
        raise errors.InvalidParameter(str(exc)) from None


def _stored_pem(record: KeyRecord) -> str:
    if record.public_key_pem is None:
        raise errors.InternalError("The public key is unavailable.")
    return record.public_key_pem
