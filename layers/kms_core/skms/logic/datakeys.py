"""CreateDataKey (op 10) and DecryptDataKey (op 13): spec §4, §F3, §F4."""

from __future__ import annotations

import os
import re

from cryptography.hazmat.primitives import hashes
from pydantic import SecretStr

from skms import errors
from skms.caller import Caller
from skms.crypto import aead, blob
from skms.crypto.errors import CryptoError
from skms.crypto.keyspec import KeySpec
from skms.logic.gate import OpenKey, Use, open_key
from skms.models.datakeys import (
    CreateDatakeyRequestBody,
    CreateDatakeyResponseBody,
    DecryptDatakeyRequestBody,
    DecryptDatakeyResponseBody,
)
from skms.runtime import Services

DECIMAL = re.compile(r"[0-9]{1,5}")  # ASCII digits only: str.isdecimal() admits other scripts
DEFAULT_DATAKEY_BITS = 256
DATAKEY_SPEC_BITS = {"AES_256": 256, "AES_128": 128}
MIN_DATAKEY_BITS, MAX_DATAKEY_BITS = 8, 8192
MAX_DATAKEY_BYTES = MAX_DATAKEY_BITS // 8
SUITES = {KeySpec.AES_256: aead.Suite.AES_256_GCM, KeySpec.SM4: aead.Suite.SM4_GCM}


def datakey_bits(body: CreateDatakeyRequestBody) -> int:
    """§4 op 10: datakey_length (bits) wins over key_spec; 256 bits when neither is given."""
    if body.datakey_length is not None:
        if not DECIMAL.fullmatch(body.datakey_length):
            raise errors.InvalidDatakeyLengthRange("datakey_length must be a decimal string.")
        bits = int(body.datakey_length)
        if not MIN_DATAKEY_BITS <= bits <= MAX_DATAKEY_BITS:
            raise errors.InvalidDatakeyLengthRange
        if bits % 8:
            raise errors.InvalidDatakeyLengthMultiple
        return bits
    if body.key_spec is not None:
        if body.key_spec not in DATAKEY_SPEC_BITS:
            raise errors.InvalidDatakeySpec
        return DATAKEY_SPEC_BITS[body.key_spec]
    return DEFAULT_DATAKEY_BITS


def symmetric_suite(key: OpenKey) -> aead.Suite:
    """The AEAD of a CMK opened for :data:`Use.DATA_KEY` (the gate let only AES_256 and SM4 through)."""
    return SUITES[key.spec]


def datakey_digest(spec: KeySpec, data_key: bytes) -> bytes:
    """§F3: SHA-256 of the DEK, or SM3 for an SM4 CMK."""
    digest = hashes.Hash(hashes.SM3() if spec is KeySpec.SM4 else hashes.SHA256())
    digest.update(data_key)
    return digest.finalize()


def create_datakey(
    body: CreateDatakeyRequestBody, caller: Caller, services: Services
) -> CreateDatakeyResponseBody:
    bits = datakey_bits(body)
    key = open_key(services, caller, body.key_id, Use.DATA_KEY)
    suite = symmetric_suite(key)
    version, material = key.primary()
    data_key = os.urandom(bits // 8)
    cipher = blob.seal(
        suite=suite,
        key=material,
        key_id=key.key_id,
        key_version=version,
        purpose=blob.Purpose.DATA_KEY,
        plaintext=data_key,
        bound=blob.binding(key.record.project_id, body.encryption_context, body.aad_bytes()),
    )
    return CreateDatakeyResponseBody(
        key_id=key.key_id, plain_text=SecretStr(data_key.hex().upper()), cipher_text=cipher.hex().upper()
    )


def decrypt_datakey(
    body: DecryptDatakeyRequestBody, caller: Caller, services: Services
) -> DecryptDatakeyResponseBody:
    expected_len = int(body.datakey_cipher_length)
    if not 1 <= expected_len <= MAX_DATAKEY_BYTES:
        raise errors.InvalidDatakeyCipherLength("datakey_cipher_length must be between 1 and 1024.")
    try:
        cipher = bytes.fromhex(body.cipher_text)
        header = blob.read_header(cipher)
    except (ValueError, CryptoError):
        raise errors.InvalidCipherText from None
    if header.purpose is not blob.Purpose.DATA_KEY:
        raise errors.InvalidCipherText
    key = open_key(services, caller, body.key_id, Use.DATA_KEY)
    # key_id may be an alias: the blob must name the key it resolved to (now).
    if header.key_id != key.key_id or header.suite is not symmetric_suite(key):
        raise errors.InvalidCipherText
    material = key.material(header.key_version)  # KMS.2201 for a version the key does not hold
    try:
        data_key = blob.open_blob(
            cipher,
            key=material,
            expected=header,
            bound=blob.binding(key.record.project_id, body.encryption_context, body.aad_bytes()),
        )
    except CryptoError:
        raise errors.InvalidCipherText from None
    if len(data_key) != expected_len:
        raise errors.CipherLengthMismatch
    return DecryptDatakeyResponseBody(
        data_key=SecretStr(data_key.hex().upper()),
        datakey_length=str(len(data_key)),
        datakey_dgst=datakey_digest(key.spec, data_key).hex().upper(),
    )
