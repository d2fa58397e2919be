"""Key lifecycle operations (spec §3 ops 2-9) and the KeyDetails object (§2)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from skms import errors
from skms.domain import KeyRecord
from skms.models.base import ALIAS_PATTERN, KEY_ID_PATTERN, SequenceMixin


class OperateKeyRequestBody(SequenceMixin):
    """OKB: describe, enable, disable, cancel deletion."""

    key_id: str = Field(pattern=KEY_ID_PATTERN)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {"key_id": errors.InvalidKeyId}


class ScheduleKeyDeletionRequestBody(SequenceMixin):
    key_id: str = Field(pattern=KEY_ID_PATTERN)
    pending_days: str = Field(pattern=r"^[0-9]{1,4}$")

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "pending_days": errors.InvalidPendingDays,
    }


class UpdateKeyAliasRequestBody(SequenceMixin):
    key_id: str = Field(pattern=KEY_ID_PATTERN)
    key_alias: str = Field(pattern=ALIAS_PATTERN, min_length=1, max_length=255)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "key_alias": errors.InvalidKeyAlias,
    }


class UpdateKeyDescriptionRequestBody(SequenceMixin):
    key_id: str = Field(pattern=KEY_ID_PATTERN)
    key_description: str = Field(max_length=255)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "key_description": errors.InvalidKeyDescription,
    }


class ListKeysRequestBody(SequenceMixin):
    limit: str | None = Field(default=None, pattern=r"^[0-9]{1,6}$")
    marker: str | None = Field(default=None, max_length=512)
    key_state: str | None = Field(default=None, pattern=r"^[1-5]$")
    key_spec: str | None = None
    enterprise_project_id: str | None = Field(default=None, max_length=64)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "limit": errors.InvalidLimit,
        "marker": errors.InvalidMarker,
        "key_spec": errors.InvalidAlgorithm,
    }


class KeyDetails(BaseModel):
    """§2: every field a string; timestamps in epoch milliseconds; "" when there is none."""

    key_id: str
    domain_id: str
    key_alias: str
    realm: str
    key_spec: str
    key_usage: str
    key_description: str
    creation_date: str
    scheduled_deletion_date: str
    key_state: str
    default_key_flag: str
    key_type: str
    expiration_time: str
    origin: str
    key_rotation_enabled: str
    sys_enterprise_project_id: str
    keystore_id: str

    @classmethod
    def of(cls, record: KeyRecord) -> KeyDetails:
        return cls(
            key_id=record.key_id,
            domain_id=record.domain_id,
            key_alias=record.key_alias,
            realm=record.realm,
            key_spec=record.key_spec.value,
            key_usage=record.key_usage.value,
            key_description=record.key_description,
            creation_date=str(record.creation_date),
            scheduled_deletion_date=""
            if record.scheduled_deletion_date is None
            else str(record.scheduled_deletion_date),
            key_state=record.key_state.value,
            default_key_flag=record.default_key_flag,
            key_type=record.key_type,
            expiration_time="" if record.expiration_time is None else str(record.expiration_time),
            origin=record.origin.value,
            key_rotation_enabled="true" if record.key_rotation_enabled else "false",
            sys_enterprise_project_id=record.enterprise_project_id,
            keystore_id=record.keystore_id,
        )


class DescribeKeyResponseBody(BaseModel):
    key_info: KeyDetails


class KeyStatusInfo(BaseModel):
    key_id: str
    key_state: str


class KeyStatusResponseBody(BaseModel):
    """enable-key / disable-key: wrapped in key_info."""

    key_info: KeyStatusInfo


class KeyStateResponseBody(BaseModel):
    """schedule-key-deletion / cancel-key-deletion: top-level key_id and key_state (§3 ops 6, 7)."""

    key_id: str
    key_state: str


class KeyAliasInfo(BaseModel):
    key_id: str
    key_alias: str


class UpdateKeyAliasResponseBody(BaseModel):
    key_info: KeyAliasInfo


class KeyDescriptionInfo(BaseModel):
    key_id: str
    key_description: str


class UpdateKeyDescriptionResponseBody(BaseModel):
    key_info: KeyDescriptionInfo


class ListKeysResponseBody(BaseModel):
    """§F8: truncated is the string "true"/"false"; total an integer; next_marker "" at the end."""

    keys: list[str]
    key_details: list[KeyDetails]
    next_marker: str
    truncated: str
    total: int
