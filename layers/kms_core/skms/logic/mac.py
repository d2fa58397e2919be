"""Generate and verify MACs under HMAC CMKs (spec §6 ops 26-27; codes in §F2).

Checks, in order, after the key is found (KMS.0207) and enabled (§F1: 0209, 0210, 1301, 0320):

- The key must be an HMAC key. §F2 has no "not an HMAC key" code, so a non-HMAC key is refused by its
  usage, as sign/verify and encrypt/decrypt do: an ENCRYPT_DECRYPT key (AES_256, SM4, RSA, SM2) is
  KMS.0334, a SIGN_VERIFY key KMS.0335, a KEY_AGREEMENT key KMS.0332 (no code names that usage; it
  supports no MAC algorithm, which is what 0332 says).
- ``mac_algorithm`` must be the one of the key's spec (:data:`skms.crypto.mac.SUPPORTED`), else
  KMS.0332 ("key does not support the signing algorithm", the closest §F2 code: a documented name
  the key cannot use). Unknown names were already KMS.0308 in the model.
- Bad Base64 in ``message``/``mac`` and a message outside 1-4096 bytes were KMS.0308 in the model.
- A MAC that does not match (wrong bytes, wrong length) is the normal answer ``mac_valid: false``.
"""

from __future__ import annotations

import base64

from skms import errors
from skms.crypto import mac
from skms.crypto.keyspec import KeySpec, KeyUsage
from skms.domain import KeyRecord
from skms.logic.common import Caller, find_key, key_material, require_enabled
from skms.models.mac import (
    GenerateMacRequestBody,
    GenerateMacResponseBody,
    VerifyMacRequestBody,
    VerifyMacResponseBody,
)
from skms.runtime import Services


def generate_mac(body: GenerateMacRequestBody, caller: Caller, services: Services) -> GenerateMacResponseBody:
    """§6 op 26: the Base64 HMAC of the message under an enabled HMAC key's current material."""
    record = find_key(services, caller, body.key_id)
    algorithm = _mac_key(record, body.mac_algorithm)
    message = body.message_bytes()
    key = key_material(services, record, record.current_version)
    tag = mac.generate(algorithm, key, message)
    return GenerateMacResponseBody(
        key_id=record.key_id,
        mac_algorithm=algorithm.value,
        mac=base64.b64encode(tag).decode("ascii"),
    )


def verify_mac(body: VerifyMacRequestBody, caller: Caller, services: Services) -> VerifyMacResponseBody:
    """§6 op 27: ``mac_valid`` is a JSON boolean; a wrong MAC is ``false``, never an error."""
    record = find_key(services, caller, body.key_id)
    algorithm = _mac_key(record, body.mac_algorithm)
    message = body.message_bytes()
    tag = body.mac_bytes()
    key = key_material(services, record, record.current_version)
    valid = mac.verify(algorithm, key, message, tag)
    return VerifyMacResponseBody(key_id=record.key_id, mac_algorithm=algorithm.value, mac_valid=valid)


def _mac_key(record: KeyRecord, algorithm_name: str) -> mac.MacAlgorithm:
    """The algorithm of an enabled HMAC key, or the §F2 error (see the module docstring)."""
    require_enabled(record)
    try:
        spec = KeySpec(record.key_spec)
    except ValueError:
        raise errors.InternalError("Unknown key spec.") from None
    if not spec.is_hmac:
        if record.key_usage == KeyUsage.SIGN_VERIFY.value:
            raise errors.KeyIsSignVerify("SIGN_VERIFY keys cannot make or check MACs.")
        if record.key_usage == KeyUsage.KEY_AGREEMENT.value:
            raise errors.SigningAlgorithmUnsupported("KEY_AGREEMENT keys cannot make or check MACs.")
        raise errors.KeyIsEncryptDecrypt("ENCRYPT_DECRYPT keys cannot make or check MACs.")
    try:
        algorithm = mac.MacAlgorithm(algorithm_name)
    except ValueError:
        raise errors.InvalidParameter("Unsupported mac_algorithm.") from None
    if algorithm not in mac.supported_algorithms(spec):
        raise errors.SigningAlgorithmUnsupported(f"{spec.value} keys do not support {algorithm.value}.")
    return algorithm
