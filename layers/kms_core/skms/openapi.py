"""The OpenAPI 3.1 document of the API, generated, never written by hand.

Everything comes from the one source of truth: template.yaml's API events give the routes and
whether the Lambda authorizer guards them; each route's function module gives, through
``endpoint()`` (:func:`skms.api.handler.endpoint_of`), its request model, success status and logic
function, whose return annotation is the response model. Schemas are the pydantic models' own
JSON Schemas (draft 2020-12, which OpenAPI 3.1 takes as is): request models in validation mode,
response models in serialization mode.

Used by ``skms openapi`` (``make openapi`` writes openapi.json) and by ``skms serve``, which serves
the document at :data:`DOCUMENT_PATH`. Never imported by handlers.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, NoneType, UnionType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from skms.api.events import PROJECT_ID_PATTERN
from skms.api.handler import endpoint_of
from skms.sam_template import Route, load_module, routes_from_template

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0"  # the Huawei Cloud KMS API version this service speaks (spec §15 op 72)
DOCUMENT_PATH = "/_skms/openapi.json"  # no Huawei path starts with "/_"
SCHEMA_REF = "#/components/schemas/{model}"
JSON = "application/json"
ERROR_CODE_PATTERN = r"^(KMS|APIGW)\.[0-9]{4}$"
AKSK_SCHEME = "AkSkSignature"
TOKEN_SCHEME = "XAuthToken"  # noqa: S105 - the name of a security scheme
PROJECT_PARAMETER = "project_id"
REQUEST_ID = "X-Request-Id"
REQUEST_ID_HEADER = {REQUEST_ID: {"$ref": "#/components/headers/RequestId"}}

# §F2 errors an operation may answer: (status, component name, description).
_ERRORS = (
    ("400", "BadRequest", "The request is invalid (§F2)."),
    ("401", "Unauthorized", "No valid signature or token (APIGW.0301)."),
    ("403", "Forbidden", "The credentials may not use this project (KMS.0307, KMS.0321)."),
    ("404", "NotFound", "No such key, version or URL (KMS.0207, KMS.0201)."),
    ("413", "PayloadTooLarge", "The request body is larger than the gateway accepts."),
    ("500", "InternalError", "Internal error; the cause is never returned (KMS.0101, KMS.0102)."),
    ("503", "ServiceUnavailable", "A dependency (storage, root key) is unavailable (KMS.0104)."),
)
_AUTHENTICATION_ERRORS = ("401", "403")  # only where the Lambda authorizer guards the route

_SECURITY_SCHEMES = {
    AKSK_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": (
            "Huawei Cloud AK/SK signing, as the SDK does it (spec §F6): "
            "`SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<names>, Signature=<hex>`, an HMAC-SHA256 "
            "with the secret key over the canonical request (method, path, query, the signed headers, "
            "SHA-256 of the exact body bytes). `host` and `x-sdk-date` (`YYYYMMDDTHHMMSSZ`, UTC, within "
            "15 minutes) must be signed; the SDK also sends and signs `X-Project-Id`."
        ),
    },
    TOKEN_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Token",
        "description": "A token from POST /v3/auth/tokens (its X-Subject-Token), scoped to one project.",
    },
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error_code: str = Field(pattern=ERROR_CODE_PATTERN, examples=["KMS.0207"])
    error_msg: str


class ErrorBody(BaseModel):
    """Every error of the KMS API (spec §F2)."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


@dataclass(frozen=True)
class _Operation:
    """One route, with what its ``endpoint()`` was built from."""

    route: Route
    module: ModuleType
    operation: str
    request_model: type[BaseModel]
    response_model: type[BaseModel] | None
    success_status: int

    @classmethod
    def of(cls, route: Route) -> _Operation:
        module = load_module(route)
        spec = endpoint_of(getattr(module, route.handler.rpartition(".")[2], None))
        if spec is None:
            raise ValueError(f"{route.function}: its handler was not built with skms.api.endpoint()")
        return cls(
            route,
            module,
            spec.operation,
            spec.request_model,
            _response_model(spec.logic),
            spec.success_status,
        )

    @property
    def authenticated(self) -> bool:
        return self.route.authorizer is not None

    @property
    def has_body(self) -> bool:
        """POST and PUT carry a JSON body; a DELETE too when its model has fields besides the path
        parameters (delete-alias, spec §9 op 40); GET and HEAD never (their fields are the query's)."""
        if self.route.method in ("GET", "HEAD"):
            return False
        if self.route.method == "DELETE":
            return bool(set(self.request_model.model_fields) - set(self.route.pattern.groupindex))
        return True

    @property
    def summary(self) -> str:
        doc = (self.module.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @property
    def error_models(self) -> dict[int, tuple[type[BaseModel], str]]:
        """Errors of another shape than §F2, by status: the response model's ``ERROR_MODELS``
        (IAM's 401 for POST /v3/auth/tokens)."""
        found = getattr(self.response_model, "ERROR_MODELS", None)
        return dict(found) if isinstance(found, dict) else {}

    @property
    def response_headers(self) -> tuple[str, ...]:
        return tuple(getattr(self.response_model, "RESPONSE_HEADERS", ()))

    def models(self) -> Iterable[tuple[type[BaseModel], JsonSchemaMode]]:
        yield self.request_model, "validation"
        if self.response_model is not None:
            yield self.response_model, "serialization"
        for model, _ in self.error_models.values():
            yield model, "serialization"


def _response_model(logic: object) -> type[BaseModel] | None:
    """The logic function's return annotation: a model, or None for an empty body."""
    annotation = typing.get_type_hints(logic).get("return")
    union = isinstance(annotation, UnionType) or typing.get_origin(annotation) is typing.Union
    candidates = typing.get_args(annotation) if union else (annotation,)
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(models) > 1 or (not models and any(c not in (None, NoneType) for c in candidates)):
        raise ValueError(f"{logic!r}: the return annotation must name one response model (or None)")
    return models[0] if models else None


def _tidy(schema: Any) -> Any:
    """Pydantic's output, tidied: no per-property titles, and secrets (``SecretStr``) as the plain
    strings they are on the wire (pydantic marks them writeOnly, which a response cannot be)."""
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    tidy = {key: _tidy(value) for key, value in schema.items()}
    if tidy.get("format") == "password":
        tidy.pop("writeOnly", None)
        tidy.pop("readOnly", None)
    for prop in (tidy.get("properties") or {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    return tidy


class _Schemas:
    """The JSON Schemas of every model the document names, as components, and references to them."""

    def __init__(self, models: Iterable[tuple[type[BaseModel], JsonSchemaMode]]) -> None:
        refs, top = models_json_schema(list(dict.fromkeys(models)), ref_template=SCHEMA_REF)
        self._refs: dict[tuple[Any, JsonSchemaMode], dict[str, Any]] = dict(refs)
        self.components: dict[str, Any] = dict(sorted(_tidy(top.get("$defs", {})).items()))

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode = "serialization") -> dict[str, Any]:
        return self._refs[(model, mode)]

    def schema(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        found: dict[str, Any] = self.components[self.ref(model, mode)["$ref"].rsplit("/", 1)[-1]]
        return found


def _json_response(description: str, schema: dict[str, Any], headers: Iterable[str] = ()) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {**REQUEST_ID_HEADER, **{name: {"schema": {"type": "string"}} for name in headers}},
        "content": {JSON: {"schema": schema}},
    }


def _path_parameters(op: _Operation, request_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """project_id, and any other path parameter (a field of the request model, e.g. version_id)."""
    parameters: list[dict[str, Any]] = []
    for name in op.route.pattern.groupindex:
        if name == PROJECT_PARAMETER:
            parameters.append({"$ref": "#/components/parameters/ProjectId"})
        else:
            schema = (request_schema.get("properties") or {}).get(name) or {"type": "string"}
            parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _query_parameters(op: _Operation, request_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A GET's request-model fields other than path parameters: the query (skms.api.events), each
    a single string when given (a field given twice is refused)."""
    if op.route.method != "GET":
        return []
    required = set(request_schema.get("required") or ())
    parameters: list[dict[str, Any]] = []
    for name, schema in (request_schema.get("properties") or {}).items():
        if name in op.route.pattern.groupindex:
            continue
        given = [branch for branch in schema.get("anyOf", [schema]) if branch.get("type") != "null"]
        parameter_schema = {k: v for k, v in (given[0] if given else schema).items() if k != "default"}
        parameters.append(
            {"name": name, "in": "query", "required": name in required, "schema": parameter_schema}
        )
    return parameters


def _operation_object(op: _Operation, schemas: _Schemas) -> dict[str, Any]:
    request_schema = schemas.schema(op.request_model, "validation")
    if op.response_model is None:
        success: dict[str, Any] = {"description": "Success, no body.", "headers": dict(REQUEST_ID_HEADER)}
    else:
        success = _json_response("Success.", schemas.ref(op.response_model), op.response_headers)
    responses: dict[str, Any] = {str(op.success_status): success}
    for status, name, _ in _ERRORS:
        if op.authenticated or status not in _AUTHENTICATION_ERRORS:
            responses[status] = {"$ref": f"#/components/responses/{name}"}
    for error_status, (model, description) in op.error_models.items():
        responses[str(error_status)] = _json_response(description, schemas.ref(model))
    operation: dict[str, Any] = {
        "operationId": op.operation,
        "summary": op.summary,
        "security": [{AKSK_SCHEME: []}, {TOKEN_SCHEME: []}] if op.authenticated else [],
    }
    parameters = _path_parameters(op, request_schema) + _query_parameters(op, request_schema)
    if parameters:
        operation["parameters"] = parameters
    if op.has_body:
        # An absent body is read as {} (skms.api.events): required only if some field is.
        operation["requestBody"] = {
            "required": bool(request_schema.get("required")),
            "content": {JSON: {"schema": schemas.ref(op.request_model, "validation")}},
        }
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def build_document(template_path: Path) -> dict[str, Any]:
    """The OpenAPI document of every API route of ``template_path``."""
    operations = sorted(
        (_Operation.of(route) for route in routes_from_template(template_path)),
        key=lambda op: (op.route.path, op.route.method),
    )
    schemas = _Schemas([(ErrorBody, "serialization"), *(m for op in operations for m in op.models())])
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.route.path, {})[op.route.method.lower()] = _operation_object(op, schemas)
    error_schema = schemas.ref(ErrorBody)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "skms",
            "version": API_VERSION,
            "description": (
                "A key management service wire-compatible with Huawei Cloud KMS v1.0. Generated from "
                "template.yaml and the pydantic models by `skms openapi` (`make openapi`); do not edit."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "parameters": {
                "ProjectId": {
                    "name": PROJECT_PARAMETER,
                    "in": "path",
                    "required": True,
                    "description": "The project; the credentials must be allowed it.",
                    "schema": {"type": "string", "pattern": PROJECT_ID_PATTERN.pattern},
                }
            },
            "responses": {name: _json_response(text, error_schema) for _, name, text in _ERRORS},
            "headers": {
                "RequestId": {
                    "description": "The request's id, as in the logs.",
                    "schema": {"type": "string"},
                }
            },
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


def render(document: dict[str, Any]) -> str:
    """The committed form: the generator's key order, two-space indent, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
