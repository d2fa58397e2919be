"""Wire models of spec §6 ops 26 (generate_mac) and 27 (verify_mac).

- ``key_id`` is a key id (KID) or an alias (:data:`skms.models.base.KEY_REF_PATTERN`); anything
  else is KMS.0205.
- ``mac_algorithm`` is one of HMAC_SHA_256/384/512, HMAC_SM3; any other name is KMS.0308. Whether the
  key's spec takes it is decided in :mod:`skms.logic.mac`.
- ``message`` and ``mac`` are Base64 (standard alphabet, padded), else KMS.0308. The decoded message
  must be 1-4096 bytes (§6 op 26), else KMS.0308 too. A ``mac`` of the wrong length is not an error:
  it simply does not verify.
- ``mac_valid`` is a real JSON boolean (§6 op 27, §F7: the SDK reads it with ``bool()``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from skms import errors
from skms.models.base import KEY_REF_PATTERN, SequenceMixin
from skms.models.signing import decode_base64

MESSAGE_MAX_BYTES = 4096
MESSAGE_MAX_BASE64 = 4 * ((MESSAGE_MAX_BYTES + 2) // 3)
# Our largest MAC is HMAC-SHA-512's 64 bytes; leave room for foreign input, bounded.
MAC_MAX_BASE64 = 1024

MacAlgorithmName = Literal["HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512", "HMAC_SM3"]

__all__ = [
    "GenerateMacRequestBody",
    "GenerateMacResponseBody",
    "VerifyMacRequestBody",
    "VerifyMacResponseBody",
]


# --- op 26 generate_mac


class GenerateMacRequestBody(SequenceMixin):
    key_id: str = Field(pattern=KEY_REF_PATTERN)
    mac_algorithm: MacAlgorithmName
    message: str = Field(max_length=MESSAGE_MAX_BASE64)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {"key_id": errors.InvalidKeyId}

    @field_validator("message")
    @classmethod
    def _check_message(cls, value: str) -> str:
        size = len(decode_base64(value, "message"))
        if not 1 <= size <= MESSAGE_MAX_BYTES:
            raise errors.InvalidParameter(f"message must decode to 1-{MESSAGE_MAX_BYTES} bytes.")
        return value

    def message_bytes(self) -> bytes:
        return decode_base64(self.message, "message")


class GenerateMacResponseBody(BaseModel):
    key_id: str
    mac_algorithm: str
    mac: str  # Base64


# --- op 27 verify_mac


class VerifyMacRequestBody(GenerateMacRequestBody):
    mac: str = Field(min_length=1, max_length=MAC_MAX_BASE64)

    @field_validator("mac")
    @classmethod
    def _check_mac(cls, value: str) -> str:
        decode_base64(value, "mac")
        return value

    def mac_bytes(self) -> bytes:
        return decode_base64(self.mac, "mac")


class VerifyMacResponseBody(BaseModel):
    key_id: str
    mac_algorithm: str
    mac_valid: bool
