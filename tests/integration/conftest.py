"""Fixtures of the integration tier: the real Lambda handlers on DynamoDB and AWS KMS, under moto.

``aws_services`` builds the table from template.yaml's ``KeysTable`` and a KMS root key inside
``mock_aws()``, wires them with :func:`skms.runtime.build_services` exactly as a cold Lambda would,
and installs the result process-wide. ``handlers`` imports each function's ``app.py`` from its
CodeUri the way Lambda does (the authorizer included). ``kms`` sends the sample events of
``events/`` through them.

Authentication: the sample ``api.json`` events are what a function receives *after* the Lambda
authorizer allowed an ``X-Auth-Token`` request (``requestContext.authorizer`` carries a token
context), so the functions take them as they are. ``principals`` creates the example access key
and user in the table; ``kms.sign()`` turns an event into an AK/SK request signed now, as the
Huawei SDK signs it (spec §F6), with the context the authorizer gives such a request;
``kms.issue_token()`` gets a real token from the create-token function.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from moto import mock_aws

from skms.auth import request_signing
from skms.auth.principals import create_access_key, create_user
from skms.config import Settings
from skms.local.sample_events import SAMPLE_USER_ID
from skms.runtime import Services, build_services, set_services
from skms.sam_template import gateway_responses, load_handler
from tests.conftest import DIRECT_PROJECTS
from tests.support.template import create_table_from_template, load_template, template_functions

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
EVENTS = REPO_ROOT / "events"
PROJECT_ID = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"

# KMS.xxxx (§F2), and the gateway's APIGW.0301 for a request that failed authentication.
ERROR_CODE = re.compile(r"^(?:KMS|APIGW)\.\d{4}$")

# The example credentials of events/ (README): the AK/SK that signed authorizer/request_aksk.json,
# and the domain of the token context in the api.json events.
EXAMPLE_ACCESS_KEY = "AKEXAMPLE"
EXAMPLE_SECRET_KEY = "SKEXAMPLE"
EXAMPLE_DOMAIN_ID = "5d8c2a4f9e1b47c3a6d0f2e8b4c1a937"
# The headers the Huawei SDK signs for a KMS call (spec §F6), sorted.
SDK_SIGNED_HEADERS = ("content-type", "host", "user-agent", "x-project-id", "x-sdk-date")

Handler = Callable[[Any, Any], dict[str, Any]]


# -- AWS under moto -------------------------------------------------------------------------
#
# One moto account per test module, one fresh table per test. Starting ``mock_aws()`` resets
# boto3's default session (every client then reloads its service model) and moto generates an
# RSA-2048 key pair for every KMS key it creates: together about half a second per test. So the
# mock and the KMS root key live as long as the module, and each test gets its own empty
# ``KeysTable`` (deleted afterwards), which keeps the tests independent of each other.


@dataclass(frozen=True)
class AwsAccount:
    root_key_arn: str
    template: dict[str, Any]


@dataclass(frozen=True)
class AwsResources:
    table_name: str
    root_key_arn: str


@pytest.fixture(scope="module")
def aws_account() -> Iterator[AwsAccount]:
    """Fake credentials and region, no real endpoint or profile, moto's mock and the ``RootKey``."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_KMS"):
            env.delenv(name, raising=False)
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_SESSION_TOKEN", "testing")
        with mock_aws():
            key = boto3.client("kms").create_key(
                Description="skms root key (moto)", KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT"
            )
            yield AwsAccount(key["KeyMetadata"]["Arn"], load_template())


@pytest.fixture
def aws_resources(aws_account: AwsAccount) -> Iterator[AwsResources]:
    """The stack's two stateful resources: a fresh table built from template.yaml's ``KeysTable``,
    and the KMS root key."""
    table_name = f"skms-it-{uuid.uuid4().hex[:12]}"
    dynamodb = boto3.client("dynamodb")
    create_table_from_template(dynamodb, "KeysTable", table_name, aws_account.template)
    yield AwsResources(table_name, aws_account.root_key_arn)
    dynamodb.delete_table(TableName=table_name)


@pytest.fixture
def aws_settings(aws_resources: AwsResources) -> Settings:
    return Settings(
        storage="dynamodb",
        table_name=aws_resources.table_name,
        root_key="aws-kms",
        root_key_id=aws_resources.root_key_arn,
        region_id="us-east-1",
        direct_invocation_projects=DIRECT_PROJECTS,
    )


@pytest.fixture
def aws_services(aws_settings: Settings) -> Iterator[Services]:
    """Services on DynamoDB + AWS KMS (moto), installed process-wide for the handlers."""
    services = build_services(aws_settings)
    set_services(services)
    yield services
    set_services(None)


# -- Lambda ---------------------------------------------------------------------------------


class FakeLambdaContext:
    """The attributes of the Lambda context object that code may read."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2025/01/01/[$LATEST]0123456789abcdef0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture(scope="session")
def handlers() -> dict[str, Handler]:
    """Each function of template.yaml (routed, authorizer, scheduled), by the name of its CodeUri
    directory (that of its events too), its ``lambda_handler`` imported as Lambda imports it."""
    return {name: load_handler(function) for name, function in template_functions(TEMPLATE).items()}


# -- the sample events ----------------------------------------------------------------------


def load_event(function: str, kind: str) -> dict[str, Any]:
    """A fresh copy of ``events/<function>/<kind>.json``."""
    with (EVENTS / function / f"{kind}.json").open(encoding="utf-8") as handle:
        event: dict[str, Any] = json.load(handle)
    return copy.deepcopy(event)


def sdk_json(body: Any) -> str:
    """Serialise a body as the Huawei SDK does (separators ", " and ": ", \\u escapes)."""
    return json.dumps(body)


def set_header(event: dict[str, Any], name: str, value: str) -> None:
    """Set a header in both ``headers`` and ``multiValueHeaders``, as API Gateway would send it."""
    remove_header(event, name)
    event["headers"][name] = value
    if event.get("multiValueHeaders") is not None:
        event["multiValueHeaders"][name] = [value]


def remove_header(event: dict[str, Any], name: str) -> None:
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field) or {}
        for existing in [h for h in headers if h.lower() == name.lower()]:
            del headers[existing]


def header(event: dict[str, Any], name: str) -> str | None:
    found = [v for h, v in (event.get("headers") or {}).items() if h.lower() == name.lower()]
    return found[0] if found else None


def raw_body_of(event: dict[str, Any]) -> bytes:
    """The body bytes the client sent (and signed), as the function reconstructs them."""
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def sdk_date(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime(request_signing.DATE_FORMAT)


def sdk_authorization(
    *,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
    signed_headers: tuple[str, ...] = SDK_SIGNED_HEADERS,
) -> str:
    """The ``Authorization`` header the Huawei SDK computes (spec §F6), from skms.auth.request_signing's
    canonical request, string to sign and HMAC (test_auth checks the spec's test vector)."""
    lower = {name.lower(): value for name, value in headers.items()}
    canonical = request_signing.canonical_request(
        method=method,
        raw_path=path,
        query_pairs=query,
        headers=lower,
        signed_headers=signed_headers,
        body=body,
    )
    to_sign = request_signing.string_to_sign(canonical, lower["x-sdk-date"])
    signature = request_signing.sign(secret_key.encode("utf-8"), to_sign)
    return (
        f"{request_signing.ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed_headers)}, "
        f"Signature={signature}"
    )


def aksk_context(access_key: str, domain_id: str, project_id: str) -> dict[str, Any]:
    """``requestContext.authorizer`` as API Gateway passes an allowed AK/SK request on."""
    return {
        "principalId": access_key,
        "integrationLatency": 31,
        "auth_method": "aksk",
        "principal_id": access_key,
        "domain_id": domain_id,
        "project_id": project_id,
        "user": "",
        "project_allowed": "true",
        "user_id": "",  # the account's own key
    }


@pytest.fixture(scope="session")
def sdk_signer() -> Callable[..., str]:
    """:func:`sdk_authorization`, the SDK's Authorization header for a request."""
    return sdk_authorization


@dataclass(frozen=True)
class Principals:
    """The example credentials, created in the table: an access key and a user."""

    access_key: str
    secret_key: str
    domain_id: str
    project_ids: tuple[str, ...]
    user_name: str
    password: str
    domain_name: str


def create_principals(
    services: Services,
    *,
    access_key: str = EXAMPLE_ACCESS_KEY,
    secret_key: str = EXAMPLE_SECRET_KEY,
    domain_id: str = EXAMPLE_DOMAIN_ID,
    project_ids: tuple[str, ...] = (PROJECT_ID,),
) -> Principals:
    """Create the access key, and the user whose name, domain and password the create-token sample
    event carries (events/create_token), allowed ``project_ids``."""
    user = load_event("create_token", "direct")["body"]["auth"]["identity"]["password"]["user"]
    create_access_key(
        services, domain_id=domain_id, project_ids=project_ids, access_key=access_key, secret_key=secret_key
    )
    create_user(
        services,
        name=user["name"],
        password=user["password"],
        domain_id=domain_id,
        domain_name=user["domain"]["name"],
        project_ids=project_ids,
        policies=("KMS Administrator",),  # an IAM user has no permission without a policy
        user_id=SAMPLE_USER_ID,  # the user the sample api.json events' authorizer context names
    )
    return Principals(
        access_key, secret_key, domain_id, project_ids, user["name"], user["password"], user["domain"]["name"]
    )


@pytest.fixture
def principals(aws_services: Services) -> Principals:
    return create_principals(aws_services)


@dataclass
class ApiReply:
    status: int
    headers: dict[str, str]
    raw_body: str
    event: dict[str, Any]

    @property
    def body(self) -> Any:
        return json.loads(self.raw_body)


def assert_error_shape(body: Any) -> tuple[str, str]:
    """``body`` is exactly ``{"error": {"error_code": "KMS.xxxx" | "APIGW.xxxx", "error_msg": str}}``."""
    assert isinstance(body, dict)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"error_code", "error_msg"}, error
    assert isinstance(error["error_code"], str)
    assert ERROR_CODE.fullmatch(error["error_code"]), error
    assert isinstance(error["error_msg"], str)
    assert error["error_msg"]
    return error["error_code"], error["error_msg"]


def assert_iam_error_shape(body: Any) -> int:
    """IAM's error body: exactly ``{"error": {"code": int, "message": str, "title": str}}``."""
    assert isinstance(body, dict)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "title"}, error
    assert isinstance(error["code"], int)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["title"], str)
    code: int = error["code"]
    return code


def method_arn(event: dict[str, Any]) -> str:
    context = event["requestContext"]
    return (
        f"arn:aws:execute-api:us-east-1:{context['accountId']}:{context['apiId']}/{context['stage']}"
        f"/{event['httpMethod']}{event['path']}"
    )


def authorizer_request(event: dict[str, Any]) -> dict[str, Any]:
    """The REQUEST authorizer event API Gateway builds from a proxy event: no body."""
    return copy.deepcopy(
        {
            "type": "REQUEST",
            "methodArn": method_arn(event),
            "resource": event["resource"],
            "path": event["path"],
            "httpMethod": event["httpMethod"],
            "headers": event["headers"],
            "multiValueHeaders": event["multiValueHeaders"],
            "queryStringParameters": event.get("queryStringParameters") or {},
            "multiValueQueryStringParameters": event.get("multiValueQueryStringParameters") or {},
            "pathParameters": event.get("pathParameters") or {},
            "stageVariables": event.get("stageVariables") or {},
            "requestContext": {k: v for k, v in event["requestContext"].items() if k != "authorizer"},
        }
    )


_CONTEXT_VARIABLE = re.compile(r"\$context\.authorizer\.([A-Za-z0-9_]+)")


def gateway_response(kind: str, context: dict[str, str], event: dict[str, Any]) -> ApiReply:
    """template.yaml's gateway response ``kind``, ``$context.authorizer.*`` rendered."""
    response = gateway_responses(TEMPLATE)[kind]
    body = _CONTEXT_VARIABLE.sub(
        lambda found: json.dumps(context.get(found[1], ""))[1:-1],
        response["ResponseTemplates"]["application/json"],
    )
    reply = ApiReply(int(response["StatusCode"]), {"Content-Type": "application/json"}, body, event)
    assert_error_shape(reply.body)
    return reply


class KmsClient:
    """Sends events through the real handlers. Never lets a 500 pass silently."""

    set_header = staticmethod(set_header)
    remove_header = staticmethod(remove_header)
    header = staticmethod(header)

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self._handlers = handlers

    @staticmethod
    def authorizer_event(kind: str) -> dict[str, Any]:
        """``events/authorizer/request_<kind>.json`` (kind: aksk or token)."""
        return load_event("authorizer", f"request_{kind}")

    def signed_authorizer_event(self, principals: Principals, **kwargs: Any) -> dict[str, Any]:
        """``request_aksk.json`` signed now by ``principals``, over the body of the create-key
        request it stands for (the authorizer does not see the body; the signature covers it)."""
        body = raw_body_of(load_event("create_key", "api"))
        return self.sign(self.authorizer_event("aksk"), principals, body=body, context=False, **kwargs)

    def token_authorizer_event(self, token: str) -> dict[str, Any]:
        """``request_token.json`` carrying ``token``."""
        event = self.authorizer_event("token")
        set_header(event, "X-Auth-Token", token)
        return event

    # events ---------------------------------------------------------------------------------

    @staticmethod
    def api_event(
        function: str,
        body: Any = None,
        *,
        project_id: str = PROJECT_ID,
        raw_body: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """``events/<function>/api.json`` with the body (a dict, or ``raw_body`` verbatim) and
        project replaced where given."""
        event = load_event(function, "api")
        if raw_body is not None:
            event["body"] = raw_body
        elif body is not None:
            event["body"] = sdk_json(body)
        if isinstance(body, dict):
            # Path parameters the body names (``/kms/{key_id}/tags``) go in the path, percent-encoded
            # as the SDK sends them, with the paths the signature covers.
            for name, value in (event.get("pathParameters") or {}).items():
                if name != "project_id" and isinstance(body.get(name), str):
                    given = quote(body[name], safe="")
                    event["pathParameters"][name] = given
                    for holder in (event, event["requestContext"]):
                        holder["path"] = holder["path"].replace(f"/{value}", f"/{given}", 1)
        if project_id != PROJECT_ID:
            # The request of another project, authorised by the authorizer for that project.
            event["pathParameters"]["project_id"] = project_id
            event["path"] = event["path"].replace(PROJECT_ID, project_id)
            event["requestContext"]["path"] = event["requestContext"]["path"].replace(PROJECT_ID, project_id)
            event["requestContext"]["authorizer"]["project_id"] = project_id
            set_header(event, "X-Project-Id", project_id)
        if request_id is not None:
            event["requestContext"]["requestId"] = request_id
        return event

    @staticmethod
    def direct_event(function: str, body: Any = None, *, project_id: str = PROJECT_ID) -> dict[str, Any]:
        event = load_event(function, "direct")
        if body is not None:
            event["body"] = body
        event["project_id"] = project_id
        return event

    @staticmethod
    def sample_body(function: str, **changes: Any) -> dict[str, Any]:
        """The body of ``events/<function>/direct.json`` with ``changes`` applied (None removes)."""
        body: dict[str, Any] = load_event(function, "direct")["body"]
        for name, value in changes.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        return body

    @staticmethod
    def sign(
        event: dict[str, Any],
        principals: Principals,
        *,
        when: datetime | None = None,
        secret_key: str | None = None,
        signed_headers: tuple[str, ...] = SDK_SIGNED_HEADERS,
        body: bytes | None = None,
        context: bool = True,
    ) -> dict[str, Any]:
        """Make ``event`` an AK/SK request signed at ``when`` (default now) as the SDK signs it:
        X-Sdk-Date, then Authorization over the method, ``requestContext.path`` (the path the
        client requested, stage included), the query, the signed headers and the body (``body``
        for an authorizer event, which has none). ``X-Auth-Token`` is removed. With ``context``,
        the authorizer context of an allowed AK/SK request is put on the event."""
        remove_header(event, "X-Auth-Token")
        set_header(event, "X-Sdk-Date", sdk_date(when))
        query = [
            (name, value)
            for name, values in (event.get("multiValueQueryStringParameters") or {}).items()
            for value in values
        ]
        authorization = sdk_authorization(
            method=event["httpMethod"],
            path=event["requestContext"]["path"],
            query=query,
            headers=event["headers"],
            body=raw_body_of(event) if body is None else body,
            access_key=principals.access_key,
            secret_key=principals.secret_key if secret_key is None else secret_key,
            signed_headers=signed_headers,
        )
        set_header(event, "Authorization", authorization)
        if context:
            project_id = (event.get("pathParameters") or {}).get("project_id", "")
            event["requestContext"]["authorizer"] = aksk_context(
                principals.access_key, principals.domain_id, project_id
            )
        return event

    def signed_api_event(
        self, function: str, principals: Principals, body: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        """``api_event`` as an AK/SK request, signed now, that the authorizer allowed."""
        return self.sign(self.api_event(function, body), principals, **kwargs)

    # invocation -----------------------------------------------------------------------------

    def invoke(self, function: str, event: Any) -> Any:
        return self._handlers[function](event, FakeLambdaContext(f"skms-{function}"))

    def api(self, function: str, event: dict[str, Any]) -> ApiReply:
        response = self.invoke(function, event)
        assert isinstance(response, dict)
        assert set(response) == {"statusCode", "headers", "body", "isBase64Encoded"}, response.keys()
        assert response["isBase64Encoded"] is False
        assert isinstance(response["body"], str)
        reply = ApiReply(response["statusCode"], response["headers"], response["body"], event)
        assert reply.status != 500, reply.raw_body
        if reply.status == 401 and function == "create_token":
            assert_iam_error_shape(reply.body)  # the token endpoint fails authentication as IAM does
        elif reply.status >= 400:
            assert_error_shape(reply.body)
        return reply

    def authorize(self, event: dict[str, Any]) -> dict[str, Any]:
        """Run the Lambda REQUEST authorizer; returns its policy (raises for 401, as Lambda does)."""
        policy = self.invoke("authorizer", event)
        assert isinstance(policy, dict)
        return policy

    def gateway(self, function: str, event: dict[str, Any]) -> ApiReply:
        """What API Gateway does with a request for ``function``: run the authorizer on the request
        without its body, answer 401 / 403 with template.yaml's gateway responses when it refuses,
        else pass the event on with the authorizer's context and return the function's reply."""
        event.get("requestContext", {}).pop("authorizer", None)
        try:
            policy = self.authorize(authorizer_request(event))
        except Exception as exc:
            # Only exactly "Unauthorized" is a 401: anything else would be a 500 from API Gateway.
            if str(exc) != "Unauthorized":
                raise
            return gateway_response("UNAUTHORIZED", {}, event)
        statements = policy["policyDocument"]["Statement"]
        allowed = [s for s in statements if s["Effect"] == "Allow" and s["Resource"] == method_arn(event)]
        denied = [s for s in statements if s["Effect"] == "Deny"]
        context = {key: str(value) for key, value in (policy.get("context") or {}).items()}
        if denied or not allowed:
            return gateway_response("ACCESS_DENIED", context, event)
        event["requestContext"]["authorizer"] = {
            "principalId": policy["principalId"],
            "integrationLatency": 23,
            **context,
        }
        return self.api(function, event)

    # tokens ----------------------------------------------------------------------------------

    @staticmethod
    def token_event(
        principals: Principals | None = None, *, project_id: str | None = None, **user: Any
    ) -> dict[str, Any]:
        """``events/create_token/api.json`` with the user's fields (name, password, domain name)
        and the scope's project replaced where given."""
        event = load_event("create_token", "api")
        body = json.loads(event["body"])
        fields = body["auth"]["identity"]["password"]["user"]
        if principals is not None:
            fields.update(name=principals.user_name, password=principals.password)
            fields["domain"]["name"] = principals.domain_name
        if "domain_name" in user:
            fields["domain"]["name"] = user.pop("domain_name")
        fields.update(user)
        if project_id is not None:
            body["auth"]["scope"]["project"]["id"] = project_id
        event["body"] = sdk_json(body)
        return event

    def issue_token(self, principals: Principals, *, project_id: str = PROJECT_ID) -> str:
        """A real token for ``principals``' user, from the create-token function (201)."""
        reply = self.api("create_token", self.token_event(principals, project_id=project_id))
        assert reply.status == 201, reply.raw_body
        token = reply.headers.get("X-Subject-Token")
        assert isinstance(token, str)
        assert token
        return token

    def call(self, function: str, body: Any, *, project_id: str = PROJECT_ID) -> ApiReply:
        """An API Gateway call with a JSON body."""
        return self.api(function, self.api_event(function, body, project_id=project_id))

    def direct(self, function: str, body: Any, *, project_id: str = PROJECT_ID) -> dict[str, Any]:
        response = self.invoke(function, self.direct_event(function, body, project_id=project_id))
        assert isinstance(response, dict)
        if "error" in response:
            code, _ = assert_error_shape(response)
            assert code != "KMS.0101", response
        return response

    # shortcuts -------------------------------------------------------------------------------

    def expect_error(self, function: str, body: Any, status: int, code: str, **kwargs: Any) -> str:
        """Call through API Gateway; the reply is the error ``code`` with ``status``. Returns the message."""
        reply = self.call(function, body, **kwargs)
        actual_code, message = assert_error_shape(reply.body)
        assert (reply.status, actual_code) == (status, code), reply.raw_body
        return message

    def create_key(self, alias: str | None = None, **fields: Any) -> str:
        body = {"key_alias": alias or f"it-{uuid.uuid4().hex[:12]}", **fields}
        reply = self.call("create_key", body)
        assert reply.status == 200, reply.raw_body
        key_id: str = reply.body["key_info"]["key_id"]
        return key_id

    def create_datakey(self, key_id: str, *, project_id: str = PROJECT_ID, **fields: Any) -> dict[str, Any]:
        reply = self.call("create_datakey", {"key_id": key_id, **fields}, project_id=project_id)
        assert reply.status == 200, reply.raw_body
        body: dict[str, Any] = reply.body
        return body

    def decrypt_datakey(
        self, key_id: str, cipher_text: str, length: int | str, **fields: Any
    ) -> dict[str, Any]:
        reply = self.call(
            "decrypt_datakey",
            {"key_id": key_id, "cipher_text": cipher_text, "datakey_cipher_length": str(length), **fields},
        )
        assert reply.status == 200, reply.raw_body
        body: dict[str, Any] = reply.body
        return body


@pytest.fixture
def kms(aws_services: Services, handlers: dict[str, Handler], principals: Principals) -> KmsClient:
    """The functions, called as the sample events' principals (which exist: the token user holds
    KMS Administrator, an IAM user having no permission without a policy)."""
    return KmsClient(handlers)
