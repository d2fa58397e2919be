"""CreateKey (spec §3 op 1)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from skms import errors
from skms.crypto.keyspec import KeySpec
from skms.models.base import ALIAS_PATTERN, SequenceMixin

KEY_SPECS = frozenset(spec.value for spec in KeySpec)


class CreateKeyRequestBody(SequenceMixin):
    key_alias: str = Field(pattern=ALIAS_PATTERN, min_length=1, max_length=255)
    key_spec: str | None = None
    key_usage: str | None = None
    key_description: str | None = Field(default=None, max_length=255)
    origin: str | None = None
    enterprise_project_id: str | None = Field(default=None, min_length=1, max_length=64)
    keystore_id: str | None = Field(default=None, min_length=1, max_length=64)
    vm_id: str | None = None

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_alias": errors.InvalidKeyAlias,
        "key_description": errors.InvalidKeyDescription,
        "key_spec": errors.InvalidAlgorithm,
        "key_usage": errors.InvalidAlgorithm,
    }


class KeyInfo(BaseModel):
    key_id: str
    domain_id: str
    region_id: str


class CreateKeyResponseBody(BaseModel):
    key_info: KeyInfo
