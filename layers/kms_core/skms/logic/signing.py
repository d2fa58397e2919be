"""Sign, verify and get-publickey under asymmetric CMKs (spec §5 ops 22-24; codes in §F2).

Checks, in order, after the key is found (KMS.0207) and enabled (§F1: 0209, 0210, 1301, 0320):

- sign / verify: a symmetric key is KMS.1115 (an HMAC key KMS.0341); an asymmetric ENCRYPT_DECRYPT key
  KMS.0334; a KEY_AGREEMENT key KMS.0332 (§F2 has no code for it: such a key supports no signing
  algorithm at all, which is what 0332 says); an algorithm the key spec does not take KMS.0332
  (:data:`skms.crypto.signing.SUPPORTED`); DIGEST with ED25519_SHA_512 (pure Ed25519 signs only RAW
  messages) KMS.0308; a DIGEST whose length is not the hash size KMS.0329 (for ED25519_PH_SHA_512 the
  64-byte SHA-512 of the message, Ed25519ph's prehash). Bad Base64 was already KMS.0308 in the model.
- verify checks against the public key kept in clear on the record, once the keyring has proven it is
  the key's own (its material, wrapped under a context binding spec, usage and public key, unwraps:
  a tampered row fails closed); a wrong or malformed signature is the normal answer ``"false"``.
- get-publickey: a symmetric key is KMS.0331 (HMAC KMS.0341). Keys of every usage answer, since an
  ENCRYPT_DECRYPT key's public half is what clients encrypt to, and a KEY_AGREEMENT key's is what the
  peer of derive-shared-secret needs. The PEM goes out with CRLF line breaks,
  as in Huawei's example response; OpenSSL and every PEM reader accept either.
"""

from __future__ import annotations

import base64

from skms import errors
from skms.caller import Caller
from skms.crypto import signing
from skms.crypto.keyspec import KeySpec
from skms.logic.gate import OpenKey, Use, open_key
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
    key = open_key(services, caller, body.key_id, Use.SIGN)
    algorithm = _algorithm(key, body.signing_algorithm)
    message = body.message_bytes()
    _check(key.spec, algorithm, message, body.message_type)  # before the material is unwrapped
    _, material = key.primary()
    signature = signing.sign(key.spec, material, algorithm, message, body.message_type)
    return SignResponseBody(key_id=key.key_id, signature=base64.b64encode(signature).decode("ascii"))


def verify(body: VerifyRequestBody, caller: Caller, services: Services) -> VerifyResponseBody:
    """§5 op 23: ``signature_valid`` is the string "true" or "false"."""
    key = open_key(services, caller, body.key_id, Use.SIGN)
    algorithm = _algorithm(key, body.signing_algorithm)
    message = body.message_bytes()
    _check(key.spec, algorithm, message, body.message_type)
    signature = body.signature_bytes()
    valid = signing.verify(key.spec, key.public_key_pem(), algorithm, message, body.message_type, signature)
    return VerifyResponseBody(key_id=key.key_id, signature_valid="true" if valid else "false")


def show_public_key(
    body: OperateKeyRequestBody, caller: Caller, services: Services
) -> ShowPublicKeyResponseBody:
    """§5 op 24: the PEM SubjectPublicKeyInfo of an enabled asymmetric key, CRLF line breaks."""
    key = open_key(services, caller, body.key_id, Use.PUBLIC_KEY)
    return ShowPublicKeyResponseBody(key_id=key.key_id, public_key=crlf_pem(key.public_key_pem()))


def crlf_pem(pem: str) -> str:
    """The PEM with every line ended by CRLF, including the last (Huawei's get-publickey example)."""
    return "".join(line + "\r\n" for line in pem.strip().splitlines())


# --- shared by the operations above


def _algorithm(key: OpenKey, algorithm_name: str) -> signing.SigningAlgorithm:
    """The algorithm of a key opened for :data:`Use.SIGN`, if its spec takes it, or KMS.0332."""
    try:
        algorithm = signing.SigningAlgorithm(algorithm_name)
    except ValueError:  # the model admits only documented names; this is a safety net
        raise errors.SigningAlgorithmUnsupported from None
    if algorithm not in signing.supported_algorithms(key.spec):
        raise errors.SigningAlgorithmUnsupported(f"{key.spec.value} keys do not support {algorithm.value}.")
    return algorithm


def _check(spec: KeySpec, algorithm: signing.SigningAlgorithm, message: bytes, message_type: str) -> None:
    try:
        signing.check_request(spec, algorithm, message, message_type)
    except signing.DigestLengthError as exc:
        raise errors.DigestLengthMismatch(str(exc)) from None
    except signing.UnsupportedAlgorithmError as exc:
        raise errors.SigningAlgorithmUnsupported(str(exc)) from None
    except signing.SigningError as exc:
        raise errors.InvalidParameter(str(exc)) from None
