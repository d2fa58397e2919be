"""Wire models of spec §5 op 25 (derive_shared_secret, ``/kms/derive-shared-secret``).

- ``key_id`` is a key id (KID) or an alias (:data:`skms.models.base.KEY_REF_PATTERN`); anything
  else is KMS.0205.
- ``key_agreement_algorithm`` is ``ECDH``, the only documented value; anything else is KMS.0308.
- ``public_key`` is the peer's key as strict Base64 of DER SubjectPublicKeyInfo, else KMS.0308. Whether
  it lies on the CMK's curve is decided in :mod:`skms.logic.agreement` (KMS.0308 too).
- ``recipient`` (Qingtian enclave attestation) is accepted in its wire shape so that logic can refuse
  it with a clear message: this service has no enclave attestation to verify it against.
- The response carries ``shared_secret`` (Base64). ``ciphertext_recipient``, the answer to a
  ``recipient``, is never produced, so it is not modelled. ``shared_secret`` is a ``SecretStr``: it
  reaches the wire only through the JSON serialiser, never through ``repr`` or a log line.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, field_serializer, field_validator

from skms import errors
from skms.models.base import KEY_REF_PATTERN, WireModel
from skms.models.signing import decode_base64

# A P-384 SubjectPublicKeyInfo is 120 bytes (160 Base64 characters); room for foreign input, bounded.
PUBLIC_KEY_MAX_BASE64 = 2048
# An attestation document is a signed CBOR blob of a few KiB; bounded so refusing it stays cheap.
ATTESTATION_DOCUMENT_MAX = 64 * 1024

__all__ = [
    "DeriveSharedSecretRequestBody",
    "DeriveSharedSecretResponseBody",
    "Recipient",
]


class Recipient(WireModel):
    """§5 op 25 ``recipient``: both fields optional on the wire."""

    attestation_document: str | None = Field(default=None, max_length=ATTESTATION_DOCUMENT_MAX)
    key_encryption_algorithm: str | None = Field(default=None, max_length=64)


class DeriveSharedSecretRequestBody(WireModel):
    key_id: str = Field(pattern=KEY_REF_PATTERN)
    key_agreement_algorithm: Literal["ECDH"]
    public_key: str = Field(min_length=1, max_length=PUBLIC_KEY_MAX_BASE64)
    recipient: Recipient | None = None

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {"key_id": errors.InvalidKeyId}

    @field_validator("public_key")
    @classmethod
    def _check_public_key(cls, value: str) -> str:
        decode_base64(value, "public_key")
        return value

    def public_key_der(self) -> bytes:
        return decode_base64(self.public_key, "public_key")


class DeriveSharedSecretResponseBody(BaseModel):
    key_id: str
    key_agreement_algorithm: str
    shared_secret: SecretStr  # Base64 of the raw ECDH value Z

    @field_serializer("shared_secret", when_used="json")
    def _reveal(self, value: SecretStr) -> str:
        return value.get_secret_value()
