"""Wire models of the alias operations (spec §9 ops 39-42; access-control.md §4).

- ``alias`` follows :data:`skms.models.base.ALIAS_NAME_PATTERN` (``alias/`` and 1-249 characters of
  ``[a-zA-Z0-9:/_-]``) and must not end in ``/default``: anything else is KMS.1101.
- ``key_id`` / ``target_key_id`` are key ids (KID), never aliases: anything else is KMS.0205.
- list-aliases takes its fields from the query (all strings): ``limit`` 1-100 (KMS.1601, default
  50), ``marker`` the ``next_marker`` of the previous page (KMS.1602).
- Responses are the flat AliasEntity (§2): every field a string, times ISO-8601 UTC with ``Z``,
  ``alias_urn`` = ``kms:<region>:<domain_id>:alias:<alias>``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field, field_validator

from skms import errors
from skms.domain import AliasRecord
from skms.models.base import ALIAS_NAME_PATTERN, KEY_ID_PATTERN, RESERVED_ALIAS_SUFFIX, WireModel

MAX_ALIASES_PER_DELETE = 100
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 100

AliasName = Annotated[str, Field(pattern=ALIAS_NAME_PATTERN)]


def _check_not_reserved(alias: str) -> str:
    if alias.endswith(RESERVED_ALIAS_SUFFIX):
        raise errors.InvalidKeyAlias("The suffix /default is reserved for service default keys.")
    return alias


class CreateAliasRequestBody(WireModel):
    key_id: str = Field(pattern=KEY_ID_PATTERN)
    alias: AliasName

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "alias": errors.InvalidKeyAlias,
    }

    @field_validator("alias")
    @classmethod
    def _check_alias(cls, value: str) -> str:
        return _check_not_reserved(value)


class AssociateAliasRequestBody(WireModel):
    alias: AliasName
    target_key_id: str = Field(pattern=KEY_ID_PATTERN)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "alias": errors.InvalidKeyAlias,
        "target_key_id": errors.InvalidKeyId,
    }


class DeleteAliasRequestBody(WireModel):
    aliases: list[AliasName] = Field(min_length=1, max_length=MAX_ALIASES_PER_DELETE)
    key_id: str = Field(pattern=KEY_ID_PATTERN)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "aliases": errors.InvalidKeyAlias,
        "key_id": errors.InvalidKeyId,
    }


class ListAliasesRequestBody(WireModel):
    key_id: str | None = Field(default=None, pattern=KEY_ID_PATTERN)
    limit: str | None = Field(default=None, pattern=r"^[0-9]{1,3}$")
    marker: str | None = Field(default=None, min_length=1, max_length=1024)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "limit": errors.InvalidLimit,
        "marker": errors.InvalidMarker,
    }


def iso_time(epoch_ms: int) -> str:
    """Alias times on the wire (spec §F8): ISO-8601 UTC to the second, e.g. 2024-04-01T00:00:00Z."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AliasEntity(BaseModel):
    """§2 AliasEntity; also the whole body of create-alias (201) and associate-alias (200)."""

    domain_id: str
    key_id: str
    alias: str
    alias_urn: str
    create_time: str
    update_time: str

    @classmethod
    def of(cls, record: AliasRecord, region: str) -> AliasEntity:
        return cls(
            domain_id=record.domain_id,
            key_id=record.key_id,
            alias=record.alias,
            alias_urn=f"kms:{region}:{record.domain_id}:alias:{record.alias}",
            create_time=iso_time(record.create_time),
            update_time=iso_time(record.update_time),
        )


class PageInfo(BaseModel):
    """``next_marker`` is "" on the last page; ``current_count`` the number of entries of this one."""

    next_marker: str
    current_count: int


class ListAliasesResponseBody(BaseModel):
    """Sent as one object, as the docs example shows; the SDK reads it as its one-element list."""

    aliases: list[AliasEntity]
    page_info: PageInfo
