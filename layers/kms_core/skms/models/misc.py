"""Quotas, instances and API versions (spec §15 ops 69-72)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from skms import errors
from skms.models.base import WireModel


class EmptyRequestBody(WireModel):
    """GET operations without parameters (user-quotas, user-instances, versions)."""


class ShowVersionRequestBody(WireModel):
    version_id: str = Field(min_length=1, max_length=16)

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {"version_id": errors.InvalidRequestUrl}


class QuotaResource(BaseModel):
    type: str
    used: int
    quota: int


class Quotas(BaseModel):
    resources: list[QuotaResource]


class ShowUserQuotasResponseBody(BaseModel):
    quotas: Quotas


class ShowUserInstancesResponseBody(BaseModel):
    instance_num: int


class ApiLink(BaseModel):
    href: str
    rel: str


class ApiVersionDetail(BaseModel):
    id: str
    links: list[ApiLink]
    version: str
    status: str
    updated: str
    min_version: str


class ShowVersionsResponseBody(BaseModel):
    versions: list[ApiVersionDetail]


class ShowVersionResponseBody(BaseModel):
    version: ApiVersionDetail
