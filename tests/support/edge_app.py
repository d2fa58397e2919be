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

from pathlib import Path

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
