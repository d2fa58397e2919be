"""The OpenAPI document: generated from template.yaml and the models, committed, kept up to date."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis

from skms.local.server import ApiGatewayEmulator, LocalServer
from skms.openapi import DOCUMENT_PATH, build_document, render
from skms.sam_template import routes_from_template
from tests.conftest import REPO_ROOT, TEMPLATE

COMMITTED = REPO_ROOT / "openapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document(TEMPLATE)


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


def test_committed_document_is_up_to_date(document: dict[str, Any]) -> None:
    # Given the committed openapi.json / When the generator runs now / Then it writes the same bytes
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.is_file() else ""
    assert committed == render(document), "openapi.json is out of date: run `make openapi`"


def test_every_api_route_of_the_template_is_documented(document: dict[str, Any]) -> None:
    routes = {(route.path, route.method.lower()) for route in routes_from_template(TEMPLATE)}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == routes
    assert {("/", "get"), ("/{version_id}", "get"), ("/v3/auth/tokens", "post")} <= documented


def test_the_document_loads_as_openapi(document: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_dict(document)
    assert len(list(schema.get_all_operations())) == sum(len(item) for item in document["paths"].values())


def test_operations_have_their_models_status_and_security(document: dict[str, Any]) -> None:
    create_key = document["paths"]["/v1.0/{project_id}/kms/create-key"]["post"]
    body = create_key["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CreateKeyRequestBody"}
    assert create_key["requestBody"]["required"] is True
    assert create_key["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateKeyResponseBody"
    }
    assert create_key["security"] == [{"AkSkSignature": []}, {"XAuthToken": []}]
    assert create_key["parameters"] == [{"$ref": "#/components/parameters/ProjectId"}]
    # An empty body is read as {}: a request body is optional where no field is required.
    assert document["paths"]["/v1.0/{project_id}/kms/list-keys"]["post"]["requestBody"]["required"] is False

    token = document["paths"]["/v3/auth/tokens"]["post"]
    assert token["security"] == []
    assert "201" in token["responses"]
    assert "X-Subject-Token" in token["responses"]["201"]["headers"]
    iam = _resolve(document, token["responses"]["401"]["content"]["application/json"]["schema"])
    assert iam["properties"]["error"] == {"$ref": "#/components/schemas/IamErrorDetail"}

    versions = document["paths"]["/"]["get"]
    assert versions["security"] == []
    assert "requestBody" not in versions
    assert "401" not in versions["responses"]
    version = document["paths"]["/{version_id}"]["get"]
    assert [p["name"] for p in version["parameters"]] == ["version_id"]

    schemes = document["components"]["securitySchemes"]
    assert schemes["AkSkSignature"]["name"] == "Authorization"
    assert schemes["XAuthToken"]["name"] == "X-Auth-Token"


def test_every_error_response_is_the_huawei_error_body(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) < 400 or (path, status) == ("/v3/auth/tokens", "401"):
                    continue
                schema = _resolve(document, response)["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert detail["required"] == ["error_code", "error_msg"]
    assert detail["additionalProperties"] is False


def test_secret_fields_are_plain_strings(document: dict[str, Any]) -> None:
    # SecretStr fields (plaintext data keys, plaintext, passwords) are strings on the wire, both ways.
    schemas = document["components"]["schemas"]
    for model, field in (
        ("CreateDatakeyResponseBody", "plain_text"),
        ("DecryptDataResponseBody", "plain_text"),
        ("EncryptDataRequestBody", "plain_text"),
        ("TokenUser", "password"),
    ):
        prop = schemas[model]["properties"][field]
        assert prop["type"] == "string", (model, field, prop)
        assert "writeOnly" not in prop
        assert "readOnly" not in prop


def test_rendering_is_stable(document: dict[str, Any]) -> None:
    assert render(build_document(TEMPLATE)) == render(document)
    assert render(document).endswith("}\n")


@pytest.fixture
def local_server() -> Iterator[str]:
    server = LocalServer(("127.0.0.1", 0), ApiGatewayEmulator(TEMPLATE))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_local_server_serves_the_document_without_authentication(
    local_server: str, document: dict[str, Any]
) -> None:
    # Given skms serve's emulator / When the document is fetched with no credentials at all
    with urllib.request.urlopen(local_server + DOCUMENT_PATH, timeout=10) as reply:
        status, content_type, body = reply.status, reply.headers["Content-Type"], reply.read()
    # Then it is the generated document, on a path that no API route can take
    assert status == 200
    assert content_type.startswith("application/json")
    assert json.loads(body) == document
    assert all(route.match(DOCUMENT_PATH) is None for route in routes_from_template(TEMPLATE))
