"""Wire models of spec §5 ops 22 (sign), 23 (verify, SDK ``validate_signature``) and 24 (get-publickey).

- ``message`` and ``signature`` are Base64 (standard alphabet, padded). Text that is not is KMS.0308;
  the decoded message must be 1-4095 bytes ("less than 4096 bytes", docs), else KMS.0308 too.
- ``message_type`` defaults to ``DIGEST``; JSON null counts as absent.
- ``signing_algorithm`` takes every name of §5 op 22; any other name is KMS.0308. Which key spec takes
  which name is logic's business (KMS.0332): ED25519_SHA_512 and ED25519_PH_SHA_512 are for ED25519
  keys (see :mod:`skms.crypto.signing`).
- ``signature_valid`` is the *string* ``"true"``/``"false"`` (§5 op 23; a JSON bool would reach SDK
  users as ``"True"``/``"False"``).
- get-publickey takes OKB's fields (:class:`ShowPublicKeyRequestBody`).
- ``key_id`` may also name an alias (:data:`skms.models.base.KEY_REF_PATTERN`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from skms import errors
from skms.models.base import KEY_REF_PATTERN, SequenceMixin, key_ref_pattern
from skms.models.lifecycle import OperateKeyRequestBody

# KIDf: §5 op 22's docstring regex, hex only.
KEY_ID_HEX_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
KEY_REF_HEX_PATTERN = key_ref_pattern(KEY_ID_HEX_PATTERN)
MESSAGE_MAX_BYTES = 4095  # "under 4096 bytes"
MESSAGE_MAX_BASE64 = 4 * ((MESSAGE_MAX_BYTES + 2) // 3)
# The largest signature we make is RSA_4096's 512 bytes; allow room for foreign garbage, bounded.
SIGNATURE_MAX_BASE64 = 4096

SigningAlgorithmName = Literal[
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "ECDSA_SHA_256",
    "ECDSA_SHA_384",
    "ECDSA_SHA_512",
    "SM2DSA_SM3",
    "ED25519_SHA_512",
    "ED25519_PH_SHA_512",
]
MessageTypeName = Literal["DIGEST", "RAW"]

__all__ = [
    "OperateKeyRequestBody",
    "ShowPublicKeyRequestBody",
    "ShowPublicKeyResponseBody",
    "SignRequestBody",
    "SignResponseBody",
    "VerifyRequestBody",
    "VerifyResponseBody",
    "decode_base64",
]


def decode_base64(text: str, field: str) -> bytes:
    """Strict standard Base64 (no whitespace, correct padding), or KMS.0308 naming ``field``."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidParameter(f"{field} must be Base64.") from None


# --- op 22 sign


class SignRequestBody(SequenceMixin):
    key_id: str = Field(pattern=KEY_REF_HEX_PATTERN)
    message: str = Field(max_length=MESSAGE_MAX_BASE64)
    signing_algorithm: SigningAlgorithmName
    message_type: MessageTypeName = "DIGEST"

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {"key_id": errors.InvalidKeyId}

    @field_validator("message")
    @classmethod
    def _check_message(cls, value: str) -> str:
        size = len(decode_base64(value, "message"))
        if not 1 <= size <= MESSAGE_MAX_BYTES:
            raise errors.InvalidParameter(f"message must decode to 1-{MESSAGE_MAX_BYTES} bytes.")
        return value

    @field_validator("message_type", mode="before")
    @classmethod
    def _default_message_type(cls, value: Any) -> Any:
        return "DIGEST" if value is None else value

    def message_bytes(self) -> bytes:
        return decode_base64(self.message, "message")


class SignResponseBody(BaseModel):
    key_id: str
    signature: str  # Base64


# --- op 23 validate_signature (/kms/verify)


class VerifyRequestBody(SignRequestBody):
    signature: str = Field(min_length=1, max_length=SIGNATURE_MAX_BASE64)

    @field_validator("signature")
    @classmethod
    def _check_signature(cls, value: str) -> str:
        decode_base64(value, "signature")
        return value

    def signature_bytes(self) -> bytes:
        return decode_base64(self.signature, "signature")


class VerifyResponseBody(BaseModel):
    key_id: str
    signature_valid: Literal["true", "false"]


# --- op 24 show_public_key (/kms/get-publickey)


class ShowPublicKeyRequestBody(OperateKeyRequestBody):
    """OKB, whose key_id may name an alias here."""

    key_id: str = Field(pattern=KEY_REF_PATTERN)


class ShowPublicKeyResponseBody(BaseModel):
    """``public_key`` is PEM SubjectPublicKeyInfo with CRLF line breaks, as in the docs example."""

    key_id: str
    public_key: str
