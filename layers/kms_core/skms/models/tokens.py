"""POST /v3/auth/tokens: the IAM password-method subset (``auth.identity`` + ``auth.scope.project``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, Field, PrivateAttr, SecretStr

from skms import errors
from skms.models.base import WireModel

NAME_MAX = 64


class TokenDomain(WireModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)


class TokenUser(WireModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    password: SecretStr = Field(min_length=1, max_length=1024)
    domain: TokenDomain


class TokenPassword(WireModel):
    user: TokenUser


class TokenIdentity(WireModel):
    methods: list[str] = Field(min_length=1, max_length=4)
    password: TokenPassword


class TokenScopeProject(WireModel):
    id: str = Field(min_length=1, max_length=NAME_MAX)


class TokenScope(WireModel):
    project: TokenScopeProject


class TokenAuth(WireModel):
    identity: TokenIdentity
    scope: TokenScope


class CreateTokenRequestBody(WireModel):
    auth: TokenAuth

    FIELD_ERRORS: ClassVar[dict[str, type[errors.KmsError]]] = {"auth": errors.InvalidParameter}


class TokenDomainRef(BaseModel):
    id: str
    name: str


class TokenProjectRef(BaseModel):
    id: str
    name: str
    domain: TokenDomainRef


class TokenUserRef(BaseModel):
    id: str
    name: str
    domain: TokenDomainRef


class TokenBody(BaseModel):
    methods: list[str]
    expires_at: str
    issued_at: str
    project: TokenProjectRef
    user: TokenUserRef
    catalog: list[str] = []
    roles: list[str] = []


class IamErrorDetail(BaseModel):
    code: int
    message: str
    title: str


class IamErrorBody(BaseModel):
    """IAM's own error shape (:class:`skms.errors.IamUnauthorized`), not §F2's."""

    error: IamErrorDetail


class CreateTokenResponseBody(BaseModel):
    # For the OpenAPI document (skms.openapi): the answer's headers, and its error of IAM's shape.
    RESPONSE_HEADERS: ClassVar[tuple[str, ...]] = ("X-Subject-Token",)
    ERROR_MODELS: ClassVar[dict[int, tuple[type[BaseModel], str]]] = {
        401: (IamErrorBody, "Wrong user name, password or project (IAM's error shape).")
    }

    token: TokenBody
    # The token itself travels only in the X-Subject-Token header, like IAM's.
    _subject_token: str = PrivateAttr(default="")

    def response_headers(self) -> dict[str, str]:
        return {"X-Subject-Token": self._subject_token}

    def with_subject_token(self, token: str) -> CreateTokenResponseBody:
        self._subject_token = token
        return self

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        return [("token", self.token)]


def iso_utc(epoch_seconds: int) -> str:
    """IAM's timestamp format, e.g. 2026-11-26T18:00:00.000000Z."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
