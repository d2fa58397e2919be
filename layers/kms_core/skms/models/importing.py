"""Import of key material (spec §10 ops 43-45; access-control §6), as the SDK's models name them.

Delete-imported-key-material takes the OKB (``OperateKeyRequestBody``), as in the SDK.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from skms import errors
from skms.models.base import KEY_ID_PATTERN, SequenceMixin

IMPORT_TOKEN_PATTERN = r"^[0-9a-zA-Z+/=]{200,6144}$"  # noqa: S105 - SDK: import_token
WRAPPED_MATERIAL_PATTERN = r"^[0-9a-zA-Z+/=]{344,360}$"  # SDK: one RSA-2048 OAEP block
# The SDK's regex says {200,6144}; the lower bound is relaxed because a valid SECP256K1 or
# Ed25519 private key wraps (RFC 5649) to fewer than 200 Base64 characters.
WRAPPED_PRIVATE_KEY_PATTERN = r"^[0-9a-zA-Z+/=]{1,6144}$"
MAX_EXPIRATION_TIME = 9_999_999_999


class GetParametersForImportRequestBody(SequenceMixin):
    """§10 op 43. ``wrapping_algorithm`` is checked by the logic (which ones are offered)."""

    key_id: str = Field(pattern=KEY_ID_PATTERN)
    wrapping_algorithm: str

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {"key_id": errors.InvalidKeyId}


class CreateParametersForImportResponseBody(BaseModel):
    """§10 op 43: ``expiration_time`` a JSON number of epoch **seconds**; ``public_key`` the
    Base64 DER SubjectPublicKeyInfo of the wrapping key."""

    key_id: str
    import_token: str
    expiration_time: int
    public_key: str


class ImportKeyMaterialRequestBody(SequenceMixin):
    """§10 op 44. ``expiration_time`` is a JSON number of epoch seconds (the SDK types it int)."""

    key_id: str = Field(pattern=KEY_ID_PATTERN)
    import_token: str = Field(pattern=IMPORT_TOKEN_PATTERN)
    encrypted_key_material: str = Field(pattern=WRAPPED_MATERIAL_PATTERN, repr=False)
    encrypted_privatekey: str | None = Field(default=None, pattern=WRAPPED_PRIVATE_KEY_PATTERN, repr=False)
    # At most 9999999999 s (year 2286): 13 digits in milliseconds, the width the due index sorts by.
    expiration_time: int | None = Field(default=None, ge=0, le=MAX_EXPIRATION_TIME)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "import_token": errors.ImportTokenInvalid,
    }


class ImportKeyMaterialResponseBody(BaseModel):
    """§10 op 44 answers ``{}`` (the SDK's response model has no fields)."""


class DeleteImportedKeyMaterialResponseBody(BaseModel):
    """§10 op 45 answers ``{}`` (the SDK's response model has no fields)."""
