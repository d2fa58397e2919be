"""derive-shared-secret: ECDH under a KEY_AGREEMENT CMK (spec §5 op 25; codes in §F2).

Checks, in order:

- ``recipient`` given (not null): KMS.0308. It asks for the secret sealed to a Qingtian enclave whose
  attestation document KMS verifies; this service runs in no such environment and has no attestation
  roots, so it could only pretend. Omit ``recipient`` to receive ``shared_secret`` in clear.
- The key is found (KMS.0207) and enabled (§F1: 0209, 0210, 1301, 0320).
- The key must have usage KEY_AGREEMENT. §F2 has no code for "not a key-agreement key", so the key is
  refused by what it is, as sign/verify and generate-mac do: an HMAC key KMS.0341, a symmetric key
  KMS.0331 ("not supported for symmetric keys"), an ENCRYPT_DECRYPT key KMS.0334, a SIGN_VERIFY key
  KMS.0335. Only EC_P256, EC_P384 and SECP256K1 keys can have that usage (:mod:`skms.crypto.keyspec`).
- ``public_key`` must be a DER SubjectPublicKeyInfo on the key's own curve, else KMS.0308 (bad Base64
  was already KMS.0308 in the model). This is checked before the private key is unwrapped.

The answer is the raw ECDH value Z in Base64 (see :mod:`skms.crypto.agreement`): callers must run it
through a KDF before using it as a key.
"""

from __future__ import annotations

import base64

from pydantic import SecretStr

from skms import errors
from skms.caller import Caller
from skms.crypto import agreement
from skms.logic.gate import Use, open_key
from skms.models.agreement import DeriveSharedSecretRequestBody, DeriveSharedSecretResponseBody
from skms.runtime import Services


def derive_shared_secret(
    body: DeriveSharedSecretRequestBody, caller: Caller, services: Services
) -> DeriveSharedSecretResponseBody:
    """§5 op 25: Base64 of the ECDH shared secret between the CMK and the peer's public key."""
    if body.recipient is not None:
        raise errors.InvalidParameter(
            "recipient is not supported: this KMS cannot verify Qingtian enclave attestation documents. "
            "Omit recipient to receive shared_secret."
        )
    key = open_key(services, caller, body.key_id, Use.AGREE)
    spec = key.spec
    if not agreement.supports(spec):  # create-key never makes such a key
        raise errors.InternalError("The key cannot do key agreement.")
    try:
        peer = agreement.load_peer_key(spec, body.public_key_der())
    except agreement.AgreementError as exc:
        raise errors.InvalidParameter(str(exc)) from None
    _, material = key.primary()
    secret = agreement.derive_shared_secret(spec, material, peer)
    return DeriveSharedSecretResponseBody(
        key_id=key.key_id,
        key_agreement_algorithm=agreement.KeyAgreementAlgorithm(body.key_agreement_algorithm).value,
        shared_secret=SecretStr(base64.b64encode(secret).decode("ascii")),
    )
