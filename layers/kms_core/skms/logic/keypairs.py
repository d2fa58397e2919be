"""Data key pairs: spec §4 ops 17 (create-rsa-datakey-pair) and 18 (create-ec-datakey-pair).

As in AWS GenerateDataKeyPair, the CMK only wraps the private key, so it must be an enabled
symmetric ENCRYPT_DECRYPT key (AES_256 or SM4). It is checked as create-datakey checks it:
KMS.0209 / KMS.0210 / KMS.1301 by state, KMS.0325 for an asymmetric key, KMS.0341 for an HMAC key.
The CMK is checked before the pair is generated, so a refused request costs no RSA generation.

``private_key_cipher_text`` is an encrypt-data ciphertext (§F5) of the DER PKCS#8 private key,
sealed by the same code as op 14 and bound to the project, additional_authenticated_data and
encryption_context. decrypt-data therefore opens it with the same AAD (its ``plain_text_base64`` is
then exactly ``private_key_plain_text``), and re-encrypt can move it to another CMK.

``sequence`` is only validated: like create-datakey these operations are not idempotent, because
the idempotency layer would have to store an answer that holds a plaintext private key.
"""

from __future__ import annotations

import base64
from typing import TypeVar

from pydantic import SecretStr

from skms.caller import Caller
from skms.crypto import keypairs
from skms.logic.data import seal_data
from skms.logic.datakeys import symmetric_suite
from skms.logic.gate import Use, open_key
from skms.models.keypairs import (
    CreateEcDatakeyPairRequestBody,
    CreateEcDatakeyPairResponseBody,
    CreateRsaDatakeyPairRequestBody,
    CreateRsaDatakeyPairResponseBody,
    DatakeyPairResponseBody,
)
from skms.runtime import Services

Reply = TypeVar("Reply", bound=DatakeyPairResponseBody)


def create_rsa_datakey_pair(
    body: CreateRsaDatakeyPairRequestBody, caller: Caller, services: Services
) -> CreateRsaDatakeyPairResponseBody:
    """§4 op 17: an RSA_2048 / RSA_3072 / RSA_4096 pair (e = 65537)."""
    return _create_pair(body, caller, services, CreateRsaDatakeyPairResponseBody)


def create_ec_datakey_pair(
    body: CreateEcDatakeyPairRequestBody, caller: Caller, services: Services
) -> CreateEcDatakeyPairResponseBody:
    """§4 op 18: a NIST P-256/384/521, secp256k1 or SM2 pair. ``pin`` is ignored (see the model)."""
    return _create_pair(body, caller, services, CreateEcDatakeyPairResponseBody)


def _create_pair(
    body: CreateRsaDatakeyPairRequestBody | CreateEcDatakeyPairRequestBody,
    caller: Caller,
    services: Services,
    reply: type[Reply],
) -> Reply:
    key = open_key(services, caller, body.key_id, Use.DATA_KEY)
    suite = symmetric_suite(key)
    pair = keypairs.generate(keypairs.PairSpec(body.key_spec))
    private_der = pair.private_der.reveal()
    cipher_text = seal_data(
        caller,
        key,
        suite,
        plaintext=private_der,
        context=body.encryption_context,
        aad=body.additional_authenticated_data,
    )
    return reply(
        key_id=key.key_id,
        key_spec=pair.spec.value,
        public_key=_to_base64(pair.public_der),
        private_key_cipher_text=cipher_text,
        private_key_plain_text=SecretStr(_to_base64(private_der)) if body.plain_text_wanted else None,
    )


def _to_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
