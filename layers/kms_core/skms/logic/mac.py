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
from skms.caller import Caller
from skms.crypto import mac
from skms.logic.gate import OpenKey, Use, open_key
from skms.models.mac import (
    GenerateMacRequestBody,
    GenerateMacResponseBody,
    VerifyMacRequestBody,
    VerifyMacResponseBody,
)
from skms.runtime import Services


def generate_mac(body: GenerateMacRequestBody, caller: Caller, services: Services) -> GenerateMacResponseBody:
    """§6 op 26: the Base64 HMAC of the message under an enabled HMAC key's current material."""
    key = open_key(services, caller, body.key_id, Use.MAC)
    algorithm = _algorithm(key, body.mac_algorithm)
    message = body.message_bytes()
    _, material = key.primary()
    tag = mac.generate(algorithm, material, message)
    return GenerateMacResponseBody(
        key_id=key.key_id,
        mac_algorithm=algorithm.value,
        mac=base64.b64encode(tag).decode("ascii"),
    )


def verify_mac(body: VerifyMacRequestBody, caller: Caller, services: Services) -> VerifyMacResponseBody:
    """§6 op 27: ``mac_valid`` is a JSON boolean; a wrong MAC is ``false``, never an error."""
    key = open_key(services, caller, body.key_id, Use.MAC)
    algorithm = _algorithm(key, body.mac_algorithm)
    message = body.message_bytes()
    tag = body.mac_bytes()
    _, material = key.primary()
    valid = mac.verify(algorithm, material, message, tag)
    return VerifyMacResponseBody(key_id=key.key_id, mac_algorithm=algorithm.value, mac_valid=valid)


def _algorithm(key: OpenKey, algorithm_name: str) -> mac.MacAlgorithm:
    """The algorithm of a key opened for :data:`Use.MAC`, if its spec takes it (see the module docstring)."""
    try:
        algorithm = mac.MacAlgorithm(algorithm_name)
    except ValueError:
        raise errors.InvalidParameter("Unsupported mac_algorithm.") from None
    if algorithm not in mac.supported_algorithms(key.spec):
        raise errors.SigningAlgorithmUnsupported(f"{key.spec.value} keys do not support {algorithm.value}.")
    return algorithm
