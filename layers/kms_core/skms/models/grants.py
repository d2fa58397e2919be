"""Grants (spec §7 ops 28-32; access-control.md §3), the wire shapes of the SDK's
``CreateGrantRequestBody``, ``RevokeGrantRequestBody`` (revoke and retire), ``ListGrantsRequestBody``,
``ListRetirableGrantsRequestBody`` and ``Grants``.

Field rules: a grantee or retiring principal is a user or domain id, ``^[a-zA-Z0-9]{1,64}$``
(KMS.2402); a grant id is 64 hex characters (KMS.2501); a name ``^[a-zA-Z0-9:/_-]{1,255}$``. The
operations are checked by the logic (:data:`skms.logic.grants.UNLOCKS`): not empty, not
``create-grant`` alone (KMS.2401), none outside the enum.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from skms import errors
from skms.models.base import KEY_ID_PATTERN, SequenceMixin
from skms.storage.port import GrantRecord

PRINCIPAL_PATTERN = r"^[a-zA-Z0-9]{1,64}$"
GRANT_ID_PATTERN = r"^[A-Fa-f0-9]{64}$"
GRANT_NAME_PATTERN = r"^[a-zA-Z0-9:/_-]{1,255}$"
OPERATIONS_MAX = 64  # far above the 9 of the enum: a bound on the request, not a rule of the API


class CreateGrantRequestBody(SequenceMixin):
    key_id: str = Field(pattern=KEY_ID_PATTERN)
    grantee_principal: str = Field(pattern=PRINCIPAL_PATTERN)
    operations: list[str] = Field(max_length=OPERATIONS_MAX)
    name: str | None = Field(default=None, pattern=GRANT_NAME_PATTERN)
    retiring_principal: str | None = Field(default=None, pattern=PRINCIPAL_PATTERN)
    grantee_principal_type: str | None = None

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "grantee_principal": errors.InvalidPrincipal,
        "retiring_principal": errors.InvalidPrincipal,
    }


class RevokeGrantRequestBody(SequenceMixin):
    """The body of revoke-grant (op 29) and of retire-grant (op 30)."""

    key_id: str = Field(pattern=KEY_ID_PATTERN)
    grant_id: str = Field(pattern=GRANT_ID_PATTERN)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "grant_id": errors.InvalidGrantId,
    }


class ListGrantsRequestBody(SequenceMixin):
    key_id: str = Field(pattern=KEY_ID_PATTERN)
    limit: str | None = Field(default=None, pattern=r"^[0-9]{1,6}$")
    marker: str | None = Field(default=None, max_length=512)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "key_id": errors.InvalidKeyId,
        "limit": errors.InvalidLimit,
        "marker": errors.InvalidMarker,
    }


class ListRetirableGrantsRequestBody(SequenceMixin):
    limit: str | None = Field(default=None, pattern=r"^[0-9]{1,6}$")
    marker: str | None = Field(default=None, max_length=512)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {
        "limit": errors.InvalidLimit,
        "marker": errors.InvalidMarker,
    }


class CreateGrantResponseBody(BaseModel):
    grant_id: str


class Grants(BaseModel):
    """The SDK's ``Grants``: all strings but ``operations``; ``creation_date`` in epoch milliseconds
    (the docs' example; access-control open question 15). ``name`` and ``retiring_principal`` are
    left out when the grant has none."""

    key_id: str
    grant_id: str
    grantee_principal: str
    grantee_principal_type: str
    operations: list[str]
    issuing_principal: str
    creation_date: str
    name: str | None = None
    retiring_principal: str | None = None

    @classmethod
    def of(cls, grant: GrantRecord) -> Grants:
        return cls(
            key_id=grant.key_id,
            grant_id=grant.grant_id,
            grantee_principal=grant.grantee_principal,
            grantee_principal_type=grant.grantee_principal_type,
            operations=list(grant.operations),
            issuing_principal=grant.issuing_principal,
            creation_date=str(grant.creation_date),
            name=grant.name or None,
            retiring_principal=grant.retiring_principal or None,
        )


class ListGrantsResponseBody(BaseModel):
    """§F8: ``truncated`` the string "true"/"false", ``next_marker`` "" on the last page, ``total``
    every grant listed by the request, whatever the page. Also list-retirable-grants' body."""

    grants: list[Grants]
    next_marker: str
    truncated: str
    total: int
