"""CreateDataKey (op 10) and DecryptDataKey (op 13), spec §4 and §F3."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr, field_serializer

from skms import errors
from skms.models.base import KEY_REF_PATTERN, ContextMixin, SequenceMixin

# A blob of the largest data key (1024 bytes) is 1131 bytes; leave room for format growth.
CIPHER_TEXT_MAX_HEX = 2 * 4096


class CreateDatakeyRequestBody(ContextMixin, SequenceMixin):
    key_id: str = Field(pattern=KEY_REF_PATTERN)
    key_spec: str | None = None
    datakey_length: str | None = Field(default=None, max_length=8)
    pin: str | None = None
    pin_type: str | None = None

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "key_spec": errors.InvalidDatakeySpec,
        "datakey_length": errors.InvalidDatakeyLengthRange,
    }


class CreateDatakeyResponseBody(BaseModel):
    key_id: str
    plain_text: SecretStr
    cipher_text: str

    @field_serializer("plain_text", when_used="json")
    def _reveal(self, value: SecretStr) -> str:
        return value.get_secret_value()


class DecryptDatakeyRequestBody(ContextMixin, SequenceMixin):
    key_id: str = Field(pattern=KEY_REF_PATTERN)
    cipher_text: str = Field(min_length=2, max_length=CIPHER_TEXT_MAX_HEX, pattern=r"^[0-9a-fA-F]+$")
    datakey_cipher_length: str = Field(pattern=r"^[0-9]{1,4}$")
    pin: str | None = None
    pin_type: str | None = None

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "cipher_text": errors.InvalidCipherText,
        "datakey_cipher_length": errors.InvalidDatakeyCipherLength,
    }


class DecryptDatakeyResponseBody(BaseModel):
    data_key: SecretStr
    datakey_length: str
    datakey_dgst: str

    @field_serializer("data_key", when_used="json")
    def _reveal(self, value: SecretStr) -> str:
        return value.get_secret_value()
