"""Wire models of spec §4 ops 11, 12, 14, 15, 16 and §15 op 68 (gen-random); encodings in §F3-§F5."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, field_serializer, field_validator

from skms import errors
from skms.models.base import KEY_REF_PATTERN, ContextMixin, SequenceMixin, WireModel

# §4 op 14: plain_text is 1-4096 characters and 1-4096 UTF-8 bytes.
PLAIN_TEXT_MAX_BYTES = 4096
# §4 op 12: hex of DEK(1-1024) || digest(32) is at most 2112 characters; longer is KMS.2104 in logic.
DATAKEY_PLAIN_TEXT_MAX_HEX = 2 * 4096
# §4 op 15 regex: ^[0-9a-zA-Z+/=]{128,5648}$
DATA_CIPHER_TEXT_PATTERN = r"^[0-9a-zA-Z+/=]{128,5648}$"
# §4 op 16 takes both encodings: hex data-key blobs (ops 10-12) and Base64 data blobs (op 14).
RE_ENCRYPT_CIPHER_TEXT_PATTERN = r"^[0-9a-zA-Z+/=]{2,8192}$"
DECIMAL_PATTERN = r"^[0-9]{1,4}$"

EncryptionAlgorithm = Literal["SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256", "SM2_ENCRYPT"]
# §4 op 16 also names RSAES_OAEP_SHA_1 (ciphertexts made client-side with the public key).
ReEncryptionAlgorithm = Literal["SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2_ENCRYPT"]


# --- op 11 create_datakey_without_plaintext: request is CreateDatakeyRequestBody (models/datakeys.py)


class CreateDatakeyWithoutPlaintextResponseBody(BaseModel):
    key_id: str
    cipher_text: str


# --- op 12 encrypt_datakey


class EncryptDatakeyRequestBody(ContextMixin, SequenceMixin):
    key_id: str = Field(pattern=KEY_REF_PATTERN)
    plain_text: SecretStr = Field(min_length=1, max_length=DATAKEY_PLAIN_TEXT_MAX_HEX)
    datakey_plain_length: str = Field(pattern=DECIMAL_PATTERN)
    pin: str | None = None
    pin_type: str | None = None
    # Level-4 HSM deployments only (type of the wrapped key, SM2 | RSA): accepted and ignored.
    key_spec: str | None = None

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "plain_text": errors.InvalidPlainText,
        "datakey_plain_length": errors.InvalidDatakeyPlainLength,
    }


class EncryptDatakeyResponseBody(BaseModel):
    key_id: str
    cipher_text: str
    datakey_length: str


# --- op 14 encrypt_data


class EncryptDataRequestBody(ContextMixin, SequenceMixin):
    key_id: str = Field(pattern=KEY_REF_PATTERN)
    plain_text: SecretStr = Field(min_length=1, max_length=PLAIN_TEXT_MAX_BYTES)
    encryption_algorithm: EncryptionAlgorithm | None = None

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "plain_text": errors.InvalidPlainText,
    }

    @field_validator("plain_text")
    @classmethod
    def _check_utf8_length(cls, value: SecretStr) -> SecretStr:
        # §F5: the limit counts UTF-8 bytes; a lone surrogate has no UTF-8 form at all.
        try:
            size = len(value.get_secret_value().encode("utf-8"))
        except UnicodeEncodeError:
            raise errors.InvalidPlainText("plain_text must be valid Unicode text.") from None
        if size > PLAIN_TEXT_MAX_BYTES:
            raise errors.InvalidPlainText("plain_text must be at most 4096 UTF-8 bytes.")
        return value


class EncryptDataResponseBody(BaseModel):
    key_id: str
    cipher_text: str


# --- op 15 decrypt_data


class DecryptDataRequestBody(ContextMixin, SequenceMixin):
    cipher_text: str = Field(pattern=DATA_CIPHER_TEXT_PATTERN)
    encryption_algorithm: EncryptionAlgorithm | None = None
    # Symmetric blobs name their key; asymmetric ciphertexts need it.
    key_id: str | None = Field(default=None, pattern=KEY_REF_PATTERN)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "cipher_text": errors.InvalidCipherText,
    }


class DecryptDataResponseBody(BaseModel):
    key_id: str
    plain_text: SecretStr
    plain_text_base64: SecretStr

    @field_serializer("plain_text", "plain_text_base64", when_used="json")
    def _reveal(self, value: SecretStr) -> str:
        return value.get_secret_value()


# --- op 16 re_encrypt (no sequence)


class ReEncryptRequestBody(WireModel):
    """§4 op 16. The *_encryption_context objects are our addition, mirroring §F5's encryption_context."""

    cipher_text: str = Field(pattern=RE_ENCRYPT_CIPHER_TEXT_PATTERN)
    destination_key_id: str = Field(pattern=KEY_REF_PATTERN)
    source_key_id: str | None = Field(default=None, pattern=KEY_REF_PATTERN)
    source_additional_authenticated_data: str | None = None
    source_encryption_context: dict[str, str] | None = None
    source_encryption_algorithm: ReEncryptionAlgorithm | None = None
    destination_additional_authenticated_data: str | None = None
    destination_encryption_context: dict[str, str] | None = None
    destination_encryption_algorithm: ReEncryptionAlgorithm | None = None
    datakey_cipher_length: str | None = Field(default=None, pattern=DECIMAL_PATTERN)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "cipher_text": errors.InvalidCipherText,
        "destination_key_id": errors.InvalidKeyId,
        "source_key_id": errors.InvalidKeyId,
        "datakey_cipher_length": errors.InvalidDatakeyCipherLength,
    }

    @field_validator("source_encryption_context", "destination_encryption_context", mode="before")
    @classmethod
    def _check_contexts(cls, value: Any) -> Any:
        return ContextMixin._check_context(value)

    @field_validator("source_additional_authenticated_data", "destination_additional_authenticated_data")
    @classmethod
    def _check_aads(cls, value: str | None) -> str | None:
        return ContextMixin._check_aad(value)


class ReEncryptResponseBody(BaseModel):
    key_id: str
    source_key_id: str
    source_encryption_algorithm: str
    destination_encryption_algorithm: str
    cipher_text: str


# --- op 68 create_random (/kms/gen-random)


class CreateRandomRequestBody(SequenceMixin):
    random_data_length: str = Field(min_length=1, max_length=8)


class CreateRandomResponseBody(BaseModel):
    random_data: SecretStr

    @field_serializer("random_data", when_used="json")
    def _reveal(self, value: SecretStr) -> str:
        return value.get_secret_value()
