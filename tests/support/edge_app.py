"""A test-only API for the edge (issue 10 item 6): a template and one function module, written into
a temporary directory, whose handlers are built by ``endpoint()`` and echo what the request model
received (body, query and path parameters, the caller's principal).

Routes (the shapes of the tags and aliases APIs, spec §8 and §9):

- ``GET    /v1.0/{project_id}/kms/aliases``              query key_id, limit, marker  -> 200 echo
- ``DELETE /v1.0/{project_id}/kms/aliases``              JSON body key_id, aliases    -> 200 echo
- ``DELETE /v1.0/{project_id}/kms/{key_id}/tags/{key}``  path key_id and key          -> 204
- ``POST   /v1.0/{project_id}/kms/{key_id}/tags``        JSON body                    -> 201, no body
"""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkkms.v2 import KmsClient

from skms.auth.principals import create_access_key
from skms.config import Settings
from skms.local.connections import ServerLimits
from skms.local.server import ApiGatewayEmulator, LocalServer
from skms.runtime import Services, set_services
from tests.conftest import PROJECT_ID, make_services
from tests.support.signer import sign_headers

REPO_ROOT = Path(__file__).resolve().parents[2]

FUNCTION_SOURCE = """
from pydantic import BaseModel

from skms.api import endpoint
from skms.models.base import WireModel

RECEIVED = []  # every request model and caller a logic function was called with, in order


class EchoRequest(WireModel):
    key_id: str | None = None
    key: str | None = None
    limit: str | None = None
    marker: str | None = None
    aliases: list[str] | None = None


class Echo(BaseModel):
    key_id: str | None = None
    key: str | None = None
    limit: str | None = None
    marker: str | None = None
    aliases: list[str] | None = None
    principal_id: str
    principal_kind: str
    auth_method: str
    domain_id: str


def echo(request, caller, services):
    RECEIVED.append((request, caller))
    principal = caller.principal
    return Echo(
        **request.model_dump(),
        principal_id=principal.id,
        principal_kind=principal.kind.value,
        auth_method=principal.auth_method.value,
        domain_id=principal.domain_id,
    )


def nothing(request, caller, services):
    RECEIVED.append((request, caller))
    return None


list_aliases = endpoint("test-list-aliases", EchoRequest, echo)
delete_alias = endpoint("test-delete-alias", EchoRequest, echo)
delete_tag = endpoint("test-delete-tag", EchoRequest, nothing, 204)
create_tag = endpoint("test-create-tag", EchoRequest, nothing, 201)
"""

ROUTES = (
    ("TestListAliases", "list_aliases", "GET", "/v1.0/{project_id}/kms/aliases"),
    ("TestDeleteAlias", "delete_alias", "DELETE", "/v1.0/{project_id}/kms/aliases"),
    ("TestDeleteTag", "delete_tag", "DELETE", "/v1.0/{project_id}/kms/{key_id}/tags/{key}"),
    ("TestCreateTag", "create_tag", "POST", "/v1.0/{project_id}/kms/{key_id}/tags"),
)


def write_edge_app(directory: Path) -> Path:
    """Write the template and the function into ``directory``; returns the template's path."""
    (directory / "edge_fn").mkdir(parents=True, exist_ok=True)
    (directory / "edge_fn" / "app.py").write_text(FUNCTION_SOURCE, encoding="utf-8")
    functions = "".join(
        f"""
  {logical_id}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: edge_fn/
      Handler: app.{handler}
      Events:
        Api:
          Type: Api
          Properties:
            RestApiId: !Ref EdgeApi
            Path: {path}
            Method: {method}
"""
        for logical_id, handler, method, path in ROUTES
    )
    template = f"""AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  EdgeApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: local
      Auth:
        DefaultAuthorizer: KmsAuthorizer
        Authorizers:
          KmsAuthorizer:
            FunctionArn: !GetAtt EdgeAuthorizer.Arn
  EdgeAuthorizer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {REPO_ROOT / "functions" / "authorizer"}
      Handler: app.lambda_handler
{functions}"""
    path = directory / "template.yaml"
    path.write_text(template, encoding="utf-8")
    return path


ACCESS_KEY = "EDGETESTACCESSKEY000"
SECRET_KEY = "edge-test-secret-key-0123456789abcdef"
DOMAIN_ID = "e" * 32
KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class EdgeServer:
    server: LocalServer
    emulator: ApiGatewayEmulator
    services: Services

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", int(self.server.server_address[1]), timeout=10)

    def signed_headers(
        self, method: str, path: str, body: bytes, *, query: list[tuple[str, str]] | None = None
    ) -> dict[str, str]:
        return sign_headers(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            method=method,
            path=path,
            body=body,
            project_id=PROJECT_ID,
            host=self.host,
            query=query,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        secret_key: str = SECRET_KEY,
        conn: http.client.HTTPConnection | None = None,
    ) -> Answer:
        """A request signed as the SDK signs it (spec §F6), over a fresh connection unless given."""
        headers = sign_headers(
            access_key=ACCESS_KEY,
            secret_key=secret_key,
            method=method,
            path=path,
            body=body,
            project_id=PROJECT_ID,
            host=self.host,
            query=query,
        )
        target = path + ("?" + urlencode(query, quote_via=quote) if query else "")
        own = conn is None
        conn = conn or self.connect()
        try:
            conn.request(method, target, body=body or None, headers=headers)
            response = conn.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            if own:
                conn.close()

    def received(self, function: str) -> list[Any]:
        """What the test function's logic was called with: [(request model, caller), ...]."""
        module = sys.modules[f"skms_function_{function}"]
        return module.RECEIVED  # type: ignore[no-any-return]

    def sdk(self) -> KmsClient:
        return (
            KmsClient.new_builder()
            .with_credentials(BasicCredentials(ACCESS_KEY, SECRET_KEY, PROJECT_ID))
            .with_endpoint(f"http://{self.host}")
            .build()
        )


@contextmanager
def serve_edge_app(directory: Path, limits: ServerLimits | None = None) -> Iterator[EdgeServer]:
    """The test-only API served by ``skms serve``'s server on a loopback port, with an access key."""
    settings = Settings(data_dir=directory / "kms-data")
    settings.data_dir.mkdir(parents=True)
    services = make_services(settings)
    set_services(services)
    create_access_key(
        services, domain_id=DOMAIN_ID, project_ids=(PROJECT_ID,), access_key=ACCESS_KEY, secret_key=SECRET_KEY
    )
    emulator = ApiGatewayEmulator(write_edge_app(directory / "app"))
    server = LocalServer(("127.0.0.1", 0), emulator, limits)
    thread = server.start_background()
    edge = EdgeServer(server, emulator, services)
    for function in ("TestListAliases", "TestDeleteAlias", "TestDeleteTag", "TestCreateTag"):
        edge.received(function).clear()
    try:
        yield edge
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        set_services(None)
