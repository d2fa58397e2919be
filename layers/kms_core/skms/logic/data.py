"""Data-key wrapping, data encryption, re-encryption and random bytes.

Spec §4 ops 11, 12, 14, 15, 16 and §15 op 68; encodings in §F3 (hex data keys), §F4 (blob frame)
and §F5 (Base64 data ciphertexts, AAD and encryption_context).

- Symmetric CMKs (AES_256, SM4) seal into the §F4 blob. Its purpose byte is authenticated, so a
  data-key blob (ops 10-12, hex) and an encrypt-data blob (op 14, Base64) never open as each other.
- Asymmetric ENCRYPT_DECRYPT CMKs encrypt with RSAES-OAEP (RSA_*) or SM2 (SM2). Those ciphertexts
  carry no key id and cannot bind AAD or an encryption context, so both are refused (KMS.0308)
  rather than silently ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
from collections.abc import Mapping

from pydantic import SecretStr

from skms import errors
from skms.caller import Caller
from skms.crypto import aead, asymmetric, blob
from skms.crypto.errors import CryptoError
from skms.crypto.keyspec import KeySpec
from skms.logic.datakeys import (
    DECIMAL,
    MAX_DATAKEY_BYTES,
    SUITES,
    create_datakey,
    datakey_digest,
    symmetric_suite,
)
from skms.logic.gate import OpenKey, Use, open_key
from skms.models.base import KEY_ID_PATTERN
from skms.models.data import (
    CreateDatakeyWithoutPlaintextResponseBody,
    CreateRandomRequestBody,
    CreateRandomResponseBody,
    DecryptDataRequestBody,
    DecryptDataResponseBody,
    EncryptDatakeyRequestBody,
    EncryptDatakeyResponseBody,
    EncryptDataRequestBody,
    EncryptDataResponseBody,
    ReEncryptRequestBody,
    ReEncryptResponseBody,
)
from skms.models.datakeys import CreateDatakeyRequestBody
from skms.runtime import Services

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
DIGEST_LEN = 32  # §F3: SHA-256 or SM3 of the DEK
HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
KEY_ID = re.compile(KEY_ID_PATTERN)
MIN_RANDOM_BITS, MAX_RANDOM_BITS = 8, 8192

Scheme = aead.Suite | asymmetric.Algorithm


def encryption_scheme(key: OpenKey, algorithm: str | None) -> Scheme:
    """How a CMK opened for :data:`Use.ENCRYPT` encrypts under ``algorithm``, or the §F2 error.

    The gate refused the keys that cannot encrypt (HMAC KMS.0341, EC KMS.1114, SIGN_VERIFY KMS.0335).
    Symmetric keys take only SYMMETRIC_DEFAULT (else KMS.2105); RSA keys RSAES_OAEP_* and SM2 keys
    SM2_ENCRYPT (else KMS.2106).
    """
    name = algorithm or SYMMETRIC_DEFAULT
    if key.spec.is_symmetric:
        if name != SYMMETRIC_DEFAULT:
            raise errors.SymmetricAlgorithmUnsupported
        return SUITES[key.spec]
    try:
        chosen = asymmetric.Algorithm(name)
    except ValueError:
        raise errors.AsymmetricAlgorithmUnsupported from None
    if (chosen is asymmetric.Algorithm.SM2_ENCRYPT) != (key.spec is KeySpec.SM2):
        raise errors.AsymmetricAlgorithmUnsupported
    return chosen


def create_datakey_without_plaintext(
    body: CreateDatakeyRequestBody, caller: Caller, services: Services
) -> CreateDatakeyWithoutPlaintextResponseBody:
    """§4 op 11: op 10 with the same rules, returning only the blob."""
    reply = create_datakey(body, caller, services)
    return CreateDatakeyWithoutPlaintextResponseBody(key_id=reply.key_id, cipher_text=reply.cipher_text)


def encrypt_datakey(
    body: EncryptDatakeyRequestBody, caller: Caller, services: Services
) -> EncryptDatakeyResponseBody:
    """§4 op 12, §F3: wrap a caller's DEK given as hex(DEK ‖ digest) into a data-key blob."""
    plain_hex = body.plain_text.get_secret_value()
    if not HEX.fullmatch(plain_hex):  # bytes.fromhex alone would accept whitespace
        raise errors.InvalidPlainText("plain_text must be an even-length hex string.")
    length = int(body.datakey_plain_length)  # the model admits only ASCII digits
    if not 1 <= length <= MAX_DATAKEY_BYTES:
        raise errors.InvalidDatakeyPlainLength
    plain = bytes.fromhex(plain_hex)
    if len(plain) - DIGEST_LEN != length:
        raise errors.PlainLengthMismatch
    data_key, digest = plain[:length], plain[length:]
    key = open_key(services, caller, body.key_id, Use.DATA_KEY)
    suite = symmetric_suite(key)
    if not hmac.compare_digest(datakey_digest(key.spec, data_key), digest):
        raise errors.DatakeyDigestMismatch
    cipher = _encrypt(
        caller,
        key,
        suite,
        purpose=blob.Purpose.DATA_KEY,
        plaintext=data_key,
        context=body.encryption_context,
        aad=body.additional_authenticated_data,
    )
    return EncryptDatakeyResponseBody(
        key_id=key.key_id, cipher_text=cipher.hex().upper(), datakey_length=str(length)
    )


def encrypt_data(body: EncryptDataRequestBody, caller: Caller, services: Services) -> EncryptDataResponseBody:
    """§4 op 14, §F5: UTF-8 plain_text in, Base64 ciphertext out."""
    plaintext = body.plain_text.get_secret_value().encode("utf-8")  # the model checked 1-4096 bytes
    key = open_key(services, caller, body.key_id, Use.ENCRYPT)
    scheme = encryption_scheme(key, body.encryption_algorithm)
    cipher = _encrypt(
        caller,
        key,
        scheme,
        purpose=blob.Purpose.DATA,
        plaintext=plaintext,
        context=body.encryption_context,
        aad=body.additional_authenticated_data,
    )
    return EncryptDataResponseBody(key_id=key.key_id, cipher_text=_to_base64(cipher))


def seal_data(
    caller: Caller,
    key: OpenKey,
    suite: aead.Suite,
    *,
    plaintext: bytes,
    context: Mapping[str, str] | None,
    aad: str | None,
) -> str:
    """Op 14's ciphertext of arbitrary bytes under a checked symmetric CMK: what decrypt-data opens.

    For services that hand out secrets decryptable later (data key pairs, §4 ops 17-18).
    """
    cipher = _encrypt(
        caller,
        key,
        suite,
        purpose=blob.Purpose.DATA,
        plaintext=plaintext,
        context=context,
        aad=aad,
    )
    return _to_base64(cipher)


def decrypt_data(body: DecryptDataRequestBody, caller: Caller, services: Services) -> DecryptDataResponseBody:
    """§4 op 15, §F5. key_id is optional for symmetric blobs (it must then match the blob)."""
    key, plaintext = _decrypt(
        services,
        caller,
        _from_base64(body.cipher_text),
        blob.Purpose.DATA,
        key_id=body.key_id,
        algorithm=body.encryption_algorithm,
        context=body.encryption_context,
        aad=body.additional_authenticated_data,
    )
    return DecryptDataResponseBody(
        key_id=key.key_id,
        # Asymmetric plaintexts may be arbitrary bytes: plain_text_base64 is the faithful copy.
        plain_text=SecretStr(plaintext.decode("utf-8", errors="replace")),
        plain_text_base64=SecretStr(_to_base64(plaintext)),
    )


def re_encrypt(body: ReEncryptRequestBody, caller: Caller, services: Services) -> ReEncryptResponseBody:
    """§4 op 16: open under the source key, seal under the destination, inside the service.

    A hex data-key blob (ops 10-12) stays a hex data-key blob and needs datakey_cipher_length; an
    encrypt-data ciphertext (op 14, Base64) stays Base64.
    """
    source_algorithm = body.source_encryption_algorithm or SYMMETRIC_DEFAULT
    destination_algorithm = body.destination_encryption_algorithm or SYMMETRIC_DEFAULT
    destination = open_key(services, caller, body.destination_key_id, Use.ENCRYPT)
    destination_scheme = encryption_scheme(destination, destination_algorithm)

    # §F4 blobs begin 02 00, so their Base64 begins "Ag" and is never mistaken for hex.
    is_datakey_blob = source_algorithm == SYMMETRIC_DEFAULT and HEX.fullmatch(body.cipher_text) is not None
    purpose = blob.Purpose.DATA_KEY if is_datakey_blob else blob.Purpose.DATA
    expected_len = 0
    if is_datakey_blob:
        if body.datakey_cipher_length is None:
            raise errors.MissingParameter("datakey_cipher_length is required for a data-key cipher_text.")
        expected_len = int(body.datakey_cipher_length)
        if not 1 <= expected_len <= MAX_DATAKEY_BYTES:
            raise errors.InvalidDatakeyCipherLength("datakey_cipher_length must be between 1 and 1024.")
        if isinstance(destination_scheme, asymmetric.Algorithm):
            raise errors.UnsupportedForAsymmetric("Data keys are only kept under symmetric keys.")
        raw = bytes.fromhex(body.cipher_text)
    else:
        raw = _from_base64(body.cipher_text)

    source, plaintext = _decrypt(
        services,
        caller,
        raw,
        purpose,
        key_id=body.source_key_id,
        key_field="source_key_id",
        algorithm=source_algorithm,
        context=body.source_encryption_context,
        aad=body.source_additional_authenticated_data,
    )
    if is_datakey_blob and len(plaintext) != expected_len:
        raise errors.CipherLengthMismatch
    cipher = _encrypt(
        caller,
        destination,
        destination_scheme,
        purpose=purpose,
        plaintext=plaintext,
        context=body.destination_encryption_context,
        aad=body.destination_additional_authenticated_data,
    )
    return ReEncryptResponseBody(
        key_id=destination.key_id,
        source_key_id=source.key_id,
        source_encryption_algorithm=source_algorithm,
        destination_encryption_algorithm=destination_algorithm,
        cipher_text=cipher.hex().upper() if is_datakey_blob else _to_base64(cipher),
    )


def create_random(
    body: CreateRandomRequestBody, caller: Caller, services: Services
) -> CreateRandomResponseBody:
    """§15 op 68: random_data_length bits (a multiple of 8 in 8-8192) as upper-case hex."""
    if not DECIMAL.fullmatch(body.random_data_length):
        raise errors.InvalidParameter("random_data_length must be a decimal string.")
    bits = int(body.random_data_length)
    if not MIN_RANDOM_BITS <= bits <= MAX_RANDOM_BITS:
        raise errors.InvalidParameter("random_data_length must be between 8 and 8192.")
    if bits % 8:
        raise errors.InvalidRandomLength
    return CreateRandomResponseBody(random_data=SecretStr(os.urandom(bits // 8).hex().upper()))


# --- shared by the operations above


def _to_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _from_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise errors.InvalidCipherText from None


def _refuse_binding(context: Mapping[str, str] | None, aad: str | None) -> None:
    """Asymmetric ciphertexts cannot carry AAD or a context: say so instead of dropping them."""
    if context or aad:
        raise errors.InvalidParameter(
            "additional_authenticated_data and encryption_context are not supported for asymmetric keys."
        )


def _binding(key: OpenKey, context: Mapping[str, str] | None, aad: str | None) -> bytes:
    """A ciphertext is bound to its key's project (not the caller's: a grantee of another project
    encrypts for the key's owner), its encryption context and its AAD."""
    return blob.binding(key.record.project_id, context, (aad or "").encode("utf-8"))


def _encrypt(
    caller: Caller,
    key: OpenKey,
    scheme: Scheme,
    *,
    purpose: blob.Purpose,
    plaintext: bytes,
    context: Mapping[str, str] | None,
    aad: str | None,
) -> bytes:
    """Seal ``plaintext`` under the primary version of ``key`` with a checked ``scheme``."""
    version, material = key.primary()
    if isinstance(scheme, aead.Suite):
        return blob.seal(
            suite=scheme,
            key=material,
            key_id=key.key_id,
            key_version=version,
            purpose=purpose,
            plaintext=plaintext,
            bound=_binding(key, context, aad),
        )
    _refuse_binding(context, aad)
    if len(plaintext) > asymmetric.max_plaintext_len(scheme, material):
        raise errors.PlaintextTooLong
    try:
        return asymmetric.encrypt(scheme, material, plaintext)
    except ValueError:  # only an empty plaintext for SM2 is left
        raise errors.InvalidPlainText("The plaintext does not fit the asymmetric key.") from None


def _decrypt(
    services: Services,
    caller: Caller,
    raw: bytes,
    purpose: blob.Purpose,
    *,
    key_id: str | None,
    algorithm: str | None,
    context: Mapping[str, str] | None,
    aad: str | None,
    key_field: str = "key_id",
) -> tuple[OpenKey, bytes]:
    """Open a blob of ``purpose`` or an asymmetric ciphertext; every failure of the ciphertext is KMS.2201.

    Without ``key_id`` the ciphertext must be a blob, which names its key (§F4).
    """
    header: blob.BlobHeader | None = None
    if key_id is None:
        if (algorithm or SYMMETRIC_DEFAULT) != SYMMETRIC_DEFAULT:
            raise errors.MissingParameter(f"{key_field} is required for asymmetric ciphertexts.")
        header = _read_header(raw)
        key_id = header.key_id
    key = open_key(services, caller, key_id, Use.ENCRYPT)
    scheme = encryption_scheme(key, algorithm)
    if isinstance(scheme, asymmetric.Algorithm):
        _refuse_binding(context, aad)
        _, material = key.primary()
        try:
            return key, asymmetric.decrypt(scheme, material, raw)
        except CryptoError:
            raise errors.InvalidCipherText from None
    header = header or _read_header(raw)
    if header.key_id != key.key_id or header.purpose is not purpose or header.suite is not scheme:
        raise errors.InvalidCipherText
    material = key.material(header.key_version)  # KMS.2201 for a version the key does not hold
    try:
        plaintext = blob.open_blob(raw, key=material, expected=header, bound=_binding(key, context, aad))
    except CryptoError:
        raise errors.InvalidCipherText from None
    return key, plaintext


def _read_header(raw: bytes) -> blob.BlobHeader:
    try:
        header = blob.read_header(raw)
    except CryptoError:
        raise errors.InvalidCipherText from None
    if not KEY_ID.fullmatch(header.key_id):
        raise errors.InvalidCipherText
    return header
