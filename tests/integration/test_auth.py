"""Authentication end to end under moto: the Lambda REQUEST authorizer, the token endpoint, and the
check every function makes first (skms.auth.authorizer: step 1 in the authorizer, step 2 in the
function, which recomputes the AK/SK signature over the raw body, spec §F6).

The authorizer answers API Gateway's way: an IAM policy (Allow, or Deny for a project the principal
may not use: 403) or an exception whose message is exactly ``Unauthorized`` (401). ``kms.gateway``
(conftest) chains authorizer and function as API Gateway does, with template.yaml's gateway
responses. Secrets (SK, password, token key) must never be in the table in clear.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import boto3
import pytest

from skms.auth import passwords, tokens
from skms.auth.principals import create_access_key, create_user, new_access_key, secret_of, token_key
from skms.local.sample_events import SAMPLE_USER_ID
from skms.runtime import Services
from skms.sam_template import gateway_responses, routes_from_template
from skms.storage.port import PrincipalStore

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = REPO_ROOT / "events"
TEMPLATE = REPO_ROOT / "template.yaml"
PROJECT_ID = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
OTHER_PROJECT_ID = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
EXAMPLE_DOMAIN_ID = "5d8c2a4f9e1b47c3a6d0f2e8b4c1a937"
KMS_FUNCTIONS = ("create_key", "create_datakey", "decrypt_datakey")
SDK_SIGNED_HEADERS = ("content-type", "host", "user-agent", "x-project-id", "x-sdk-date")
IAM_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


# -- helpers ----------------------------------------------------------------------------------


def read_event(*parts: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(EVENTS.joinpath(*parts).read_text(encoding="utf-8"))
    return event


def assert_unauthorized(kms: Any, event: dict[str, Any]) -> None:
    """The authorizer refuses with the one exception API Gateway turns into a 401."""
    with pytest.raises(Exception) as raised:
        kms.authorize(event)
    assert type(raised.value) is Exception
    assert str(raised.value) == "Unauthorized"


def statement(policy: dict[str, Any]) -> dict[str, Any]:
    assert policy["policyDocument"]["Version"] == "2012-10-17"
    statements = policy["policyDocument"]["Statement"]
    assert len(statements) == 1, statements
    found: dict[str, Any] = statements[0]
    assert found["Action"] == "execute-api:Invoke"
    return found


def assert_allowed(policy: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """An Allow of exactly this method ARN; returns the context, all flat strings."""
    assert statement(policy) == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": event["methodArn"],
    }
    context: dict[str, Any] = policy["context"]
    assert all(isinstance(value, str) for value in context.values()), context
    assert "error_code" not in context
    return context


def assert_denied(policy: dict[str, Any], event: dict[str, Any], code: str) -> dict[str, Any]:
    assert statement(policy) == {
        "Action": "execute-api:Invoke",
        "Effect": "Deny",
        "Resource": event["methodArn"],
    }
    context: dict[str, Any] = policy["context"]
    assert context["error_code"] == code, context
    assert isinstance(context["error_msg"], str)
    assert context["error_msg"]
    return context


def move_to_project(kms: Any, event: dict[str, Any], project_id: str) -> dict[str, Any]:
    """The same request addressed to ``project_id`` (path, methodArn, X-Project-Id)."""
    event["pathParameters"] = {"project_id": project_id}
    event["path"] = event["path"].replace(PROJECT_ID, project_id)
    event["requestContext"]["path"] = event["requestContext"]["path"].replace(PROJECT_ID, project_id)
    if "methodArn" in event:
        event["methodArn"] = event["methodArn"].replace(PROJECT_ID, project_id)
    kms.set_header(event, "X-Project-Id", project_id)
    return event


def error_code(reply: Any) -> tuple[int, str]:
    return reply.status, reply.body["error"]["error_code"]


def table_haystacks(services: Services) -> list[bytes]:
    """Every item of the table, raw: each attribute name and value (S/N as UTF-8, B raw), joined."""

    def leaves(value: Any) -> list[bytes]:
        if isinstance(value, dict):
            if set(value) == {"B"}:
                return [bytes(value["B"])]
            return [leaf for name, item in sorted(value.items()) for leaf in [name.encode(), *leaves(item)]]
        if isinstance(value, list):
            return [leaf for item in value for leaf in leaves(item)]
        return [str(value).encode("utf-8")]

    table = services.settings.table_name
    assert table is not None
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return [b"\x00".join(leaves(item)) for page in pages for item in page["Items"]]


def encodings(secret: bytes) -> list[bytes]:
    """The raw bytes, hex (both cases) and base64 (standard, URL-safe, padded or not)."""
    forms = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for encoded in (base64.b64encode(secret), base64.urlsafe_b64encode(secret)):
        forms += [encoded, encoded.rstrip(b"=")]
    return forms


def one_second_earlier(event: dict[str, Any]) -> str:
    signed_at = datetime.strptime(event["headers"]["X-Sdk-Date"], "%Y%m%dT%H%M%SZ")
    return (signed_at - timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")


def replace_char(text: str, index: int) -> str:
    """``text`` with the character at ``index`` replaced by another one of the base64url alphabet."""
    replacement = "B" if text[index] != "B" else "C"
    return text[:index] + replacement + text[index + 1 :]


# -- the template wires the authorizer ---------------------------------------------------------


def test_every_kms_route_is_guarded_by_the_authorizer_and_the_token_route_is_not() -> None:
    # Given the routes of template.yaml
    routes = {route.function: route for route in routes_from_template(TEMPLATE)}

    # Then every KMS operation runs the Lambda REQUEST authorizer first
    for logical_id in ("CreateKeyFunction", "CreateDatakeyFunction", "DecryptDatakeyFunction"):
        authorizer = routes[logical_id].authorizer
        assert authorizer is not None, logical_id
        assert authorizer.logical_id == "AuthorizerFunction"
    # And the token endpoint is public (Authorizer: NONE), at IAM's path
    token_route = routes["CreateTokenFunction"]
    assert token_route.authorizer is None
    assert (token_route.method.upper(), token_route.path) == ("POST", "/v3/auth/tokens")


def test_gateway_responses_answer_in_the_huawei_error_shape() -> None:
    # Given the API's gateway responses
    responses = gateway_responses(TEMPLATE)

    # Then a refused authentication is 401 APIGW.0301
    unauthorized = responses["UNAUTHORIZED"]
    assert unauthorized["StatusCode"] == "401"
    assert json.loads(unauthorized["ResponseTemplates"]["application/json"])["error"]["error_code"] == (
        "APIGW.0301"
    )
    # And a Deny is a 403 carrying the authorizer's own code and message
    denied = responses["ACCESS_DENIED"]
    assert denied["StatusCode"] == "403"
    assert json.loads(denied["ResponseTemplates"]["application/json"]) == {
        "error": {
            "error_code": "$context.authorizer.error_code",
            "error_msg": "$context.authorizer.error_msg",
        }
    }


# -- the sample events -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["aksk", "token"])
def test_sample_authorizer_events_have_the_shape_api_gateway_sends(kind: str) -> None:
    # Given the REQUEST authorizer sample event
    event = read_event("authorizer", f"request_{kind}.json")

    # Then it has the fields of a REQUEST authorizer event, and no body
    assert set(event) == {
        "type",
        "methodArn",
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "requestContext",
    }
    assert event["type"] == "REQUEST"
    context = event["requestContext"]
    assert event["methodArn"] == (
        f"arn:aws:execute-api:us-east-1:{context['accountId']}:{context['apiId']}/{context['stage']}"
        f"/POST/v1.0/{PROJECT_ID}/kms/create-key"
    )
    assert event["resource"] == context["resourcePath"] == "/v1.0/{project_id}/kms/create-key"
    assert event["path"] == f"/v1.0/{PROJECT_ID}/kms/create-key"
    assert context["path"] == f"/{context['stage']}{event['path']}"
    assert event["httpMethod"] == context["httpMethod"] == "POST"
    assert event["pathParameters"] == {"project_id": PROJECT_ID}
    assert "authorizer" not in context
    headers = event["headers"]
    assert event["multiValueHeaders"] == {name: [value] for name, value in headers.items()}
    assert headers["X-Project-Id"] == PROJECT_ID
    assert headers["User-Agent"].startswith("huaweicloud-usdk-python/3.0")
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["X-Sdk-Date"])
    # And it carries exactly one kind of credentials
    if kind == "aksk":
        assert "X-Auth-Token" not in headers
        assert headers["Authorization"].startswith(
            f"SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders={';'.join(SDK_SIGNED_HEADERS)}, Signature="
        )
    else:
        assert "Authorization" not in headers
        assert headers["X-Auth-Token"].startswith("skms2.")


def test_sample_aksk_event_is_signed_with_the_example_credentials(sdk_signer) -> None:
    # Given request_aksk.json, and the create-key request it stands for
    event = read_event("authorizer", "request_aksk.json")
    body = read_event("create_key", "api.json")["body"].encode("utf-8")

    # When the SDK's signature is computed with AKEXAMPLE / SKEXAMPLE at the event's X-Sdk-Date
    expected = sdk_signer(
        method="POST",
        path=event["requestContext"]["path"],
        query=[],
        headers=event["headers"],
        body=body,
        access_key="AKEXAMPLE",
        secret_key="SKEXAMPLE",
    )

    # Then it is the event's Authorization (events/README.md)
    assert event["headers"]["Authorization"] == expected


def test_sample_create_token_events() -> None:
    # Given the create-token sample events
    api = read_event("create_token", "api.json")
    direct = read_event("create_token", "direct.json")

    # Then the API event is POST /v3/auth/tokens, public: no project in the path, no authorizer
    assert (api["httpMethod"], api["resource"], api["path"]) == ("POST", "/v3/auth/tokens", "/v3/auth/tokens")
    assert api["pathParameters"] is None
    assert api["requestContext"]["path"] == f"/{api['requestContext']['stage']}/v3/auth/tokens"
    assert api["requestContext"]["resourcePath"] == "/v3/auth/tokens"
    assert "authorizer" not in api["requestContext"]
    assert not {"Authorization", "X-Auth-Token"} & set(api["headers"])
    assert api["multiValueHeaders"] == {name: [value] for name, value in api["headers"].items()}
    # And its body is the direct event's IAM password-method body
    assert isinstance(api["body"], str)
    assert json.loads(api["body"]) == direct["body"]
    assert set(direct) == {"body"}
    auth = direct["body"]["auth"]
    assert auth["identity"]["methods"] == ["password"]
    assert set(auth["identity"]["password"]["user"]) == {"name", "password", "domain"}
    assert auth["scope"] == {"project": {"id": PROJECT_ID}}


def test_signer_matches_the_spec_test_vector(sdk_signer) -> None:
    # Given the §F6 test vector (produced with the SDK's own Signer)
    headers = {
        "Content-Type": "application/json;charset=utf-8",
        "User-Agent": "huaweicloud-usdk-python/3.0",
        "X-Project-Id": "proj123",
        "X-Sdk-Date": "20240101T000000Z",
        "Host": "127.0.0.1:3000",
    }

    # When the tests' signer signs it; Then it gets the SDK's signature
    assert sdk_signer(
        method="POST",
        path="/v1.0/proj123/kms/create-key",
        query=[],
        headers=headers,
        body=b'{"key_alias": "test"}',
        access_key="AKEXAMPLE",
        secret_key="SKEXAMPLE",
    ) == (
        "SDK-HMAC-SHA256 Access=AKEXAMPLE, "
        "SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, "
        "Signature=9ce22768b286a0d0f21f05a4fa24fc30681875d67a51925cc4357d4806eb949e"
    )


# -- the authorizer: AK/SK ------------------------------------------------------------------------


def test_authorizer_allows_a_signed_request_of_an_existing_access_key(kms, principals) -> None:
    # Given request_aksk.json signed now by an existing access key allowed the project
    event = kms.signed_authorizer_event(principals)

    # When the authorizer runs
    policy = kms.authorize(event)

    # Then it allows exactly this method, naming the access key, its domain and the project
    context = assert_allowed(policy, event)
    assert policy["principalId"] == principals.access_key
    assert context == {
        "auth_method": "aksk",
        "principal_id": principals.access_key,
        "domain_id": EXAMPLE_DOMAIN_ID,
        "project_id": PROJECT_ID,
        "user": "",
        "project_allowed": "true",
        "user_id": "",  # an account key: no IAM user
    }
    # And the tests' AK/SK context (conftest) is what API Gateway makes of this answer
    signed = kms.signed_api_event("create_key", principals)
    passed_on = signed["requestContext"]["authorizer"]
    assert passed_on == {"principalId": policy["principalId"], "integrationLatency": 31, **context}


def test_authorizer_refuses_an_unknown_access_key(kms, principals) -> None:
    # Given a request correctly signed with a credential the service does not know
    unknown = dataclasses.replace(principals, access_key="AKUNKNOWN0000000000X")
    event = kms.signed_authorizer_event(unknown)

    # When the authorizer runs; Then 401
    assert_unauthorized(kms, event)


@pytest.mark.parametrize(
    ("skew", "allowed"),
    [
        pytest.param(timedelta(minutes=-20), False, id="20-minutes-old"),
        pytest.param(timedelta(minutes=20), False, id="20-minutes-ahead"),
        pytest.param(timedelta(minutes=-14), True, id="14-minutes-old"),
        pytest.param(timedelta(minutes=14), True, id="14-minutes-ahead"),
    ],
)
def test_authorizer_enforces_the_x_sdk_date_window(kms, principals, skew: timedelta, allowed: bool) -> None:
    # Given a request signed with an X-Sdk-Date off by ``skew`` (the window is 15 minutes)
    event = kms.signed_authorizer_event(principals, when=datetime.now(UTC) + skew)

    # When the authorizer runs; Then it allows it only within the window
    if allowed:
        assert_allowed(kms.authorize(event), event)
    else:
        assert_unauthorized(kms, event)


@pytest.mark.parametrize(
    "signed_headers",
    [
        pytest.param(("content-type", "user-agent", "x-project-id", "x-sdk-date"), id="host-not-signed"),
        pytest.param(("content-type", "host", "user-agent", "x-project-id"), id="date-not-signed"),
    ],
)
def test_authorizer_requires_host_and_date_to_be_signed(kms, principals, signed_headers) -> None:
    # Given a correctly computed signature that does not cover Host (or X-Sdk-Date)
    event = kms.signed_authorizer_event(principals, signed_headers=signed_headers)
    assert "SignedHeaders=" + ";".join(signed_headers) + "," in event["headers"]["Authorization"]

    # When the authorizer runs; Then 401
    assert_unauthorized(kms, event)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("", id="empty"),
        pytest.param("Basic QUtFWEFNUExFOlNLRVhBTVBMRQ==", id="basic"),
        pytest.param("SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=host;x-sdk-date", id="no-signature"),
        pytest.param(
            "SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=host;x-sdk-date, Signature=abc",
            id="short-signature",
        ),
        pytest.param(
            "SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=x-sdk-date;host, Signature=" + "0" * 64,
            id="unsorted-signed-headers",
        ),
        pytest.param(
            "SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=Host;X-Sdk-Date, Signature=" + "0" * 64,
            id="upper-case-signed-headers",
        ),
        pytest.param(
            "SDK-HMAC-SHA1 Access=AKEXAMPLE, SignedHeaders=host;x-sdk-date, Signature=" + "0" * 64,
            id="other-algorithm",
        ),
        pytest.param(
            "SDK-HMAC-SHA256 Access=, SignedHeaders=host;x-sdk-date, Signature=" + "0" * 64,
            id="no-access-key",
        ),
    ],
)
def test_authorizer_refuses_a_malformed_authorization(kms, principals, authorization: str) -> None:
    # Given a signed request whose Authorization header is then replaced by a malformed one
    event = kms.signed_authorizer_event(principals)
    kms.set_header(event, "Authorization", authorization)

    # When the authorizer runs; Then 401
    assert_unauthorized(kms, event)


@pytest.mark.parametrize("date", [None, "", "2025-01-01T12:00:00Z", "20250101T120000"], ids=repr)
def test_authorizer_refuses_a_missing_or_malformed_x_sdk_date(kms, principals, date: str | None) -> None:
    # Given a request signed now whose X-Sdk-Date header is then removed or malformed
    event = kms.signed_authorizer_event(principals)
    if date is None:
        kms.remove_header(event, "X-Sdk-Date")
    else:
        kms.set_header(event, "X-Sdk-Date", date)

    # When the authorizer runs; Then 401
    assert_unauthorized(kms, event)


def test_authorizer_refuses_a_request_without_credentials(kms, principals) -> None:
    # Given a request with neither an Authorization header nor an X-Auth-Token
    event = kms.signed_authorizer_event(principals)
    kms.remove_header(event, "Authorization")

    # When the authorizer runs; Then 401
    assert_unauthorized(kms, event)


class _DiscardingPrincipalStore:
    """Accepts a new principal and keeps nothing: to get a validly made record to store changed.
    Only what create_access_key / create_user call is here, hence the cast where it is used."""

    def create_access_key(self, record: Any) -> None:
        pass

    def create_user(self, record: Any) -> None:
        pass

    def get_user(self, domain_name: str, name: str) -> None:
        return None

    def list_users(self, domain_id: str | None = None) -> list[Any]:
        return []

    def get_project(self, project_id: str) -> None:
        return None

    def claim_project(self, claim: Any) -> Any:
        return claim


def test_a_disabled_access_key_is_refused(kms, aws_services: Services, principals) -> None:
    # Given an access key stored disabled (its secret wrapped as for any other key)
    access_key, secret_key = new_access_key()
    record = create_access_key(
        dataclasses.replace(
            aws_services,
            stores=dataclasses.replace(
                aws_services.stores, principals=cast("PrincipalStore", _DiscardingPrincipalStore())
            ),
        ),
        domain_id=EXAMPLE_DOMAIN_ID,
        project_ids=(PROJECT_ID,),
        access_key=access_key,
        secret_key=secret_key,
    )
    aws_services.stores.principals.create_access_key(dataclasses.replace(record, enabled=False))
    disabled = dataclasses.replace(principals, access_key=access_key, secret_key=secret_key)
    stored = aws_services.stores.principals.get_access_key(access_key)
    assert stored is not None
    assert stored.enabled is False

    # When it signs a request; Then the authorizer refuses it: 401
    assert_unauthorized(kms, kms.signed_authorizer_event(disabled))
    # And so API Gateway never passes its requests on (the authorizer runs on every request)
    event = kms.signed_api_event("create_key", disabled, context=False)
    assert error_code(kms.gateway("create_key", event)) == (401, "APIGW.0301")
    assert aws_services.stores.keys.count_keys(PROJECT_ID) == 0


def test_authorizer_defers_the_project_check_to_after_the_signature(kms, principals) -> None:
    # Given a request correctly signed by an access key allowed only PROJECT_ID, for another project
    event = move_to_project(kms, kms.authorizer_event("aksk"), OTHER_PROJECT_ID)
    body = read_event("create_key", "api.json")["body"].encode("utf-8")
    event = kms.sign(event, principals, body=body, context=False)

    # When the authorizer runs
    policy = kms.authorize(event)

    # Then it reveals nothing about the key's projects yet: it passes the request on, marked, and
    # the function refuses it (403 KMS.0307) only after verifying the signature
    context = assert_allowed(policy, event)
    assert context["project_id"] == OTHER_PROJECT_ID
    assert context["principal_id"] == principals.access_key
    assert context["project_allowed"] == "false"


# -- the token endpoint ---------------------------------------------------------------------------


def test_create_token_api_event(kms, aws_services: Services, principals) -> None:
    # Given the create-token sample event, for a user allowed the project
    event = kms.token_event(principals)
    before = time.time()

    # When the function handles it
    reply = kms.api("create_token", event)

    # Then 201, the token in X-Subject-Token only
    assert reply.status == 201, reply.raw_body
    token = reply.headers["X-Subject-Token"]
    assert isinstance(token, str)
    assert token.startswith("skms2.")
    assert token not in reply.raw_body
    assert reply.headers["Content-Type"].lower().startswith("application/json")
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]
    # And the body describes it as IAM does: 24 hours, the project and the user
    body = reply.body["token"]
    assert body["methods"] == ["password"]
    issued = datetime.strptime(body["issued_at"], IAM_TIME).replace(tzinfo=UTC).timestamp()
    expires = datetime.strptime(body["expires_at"], IAM_TIME).replace(tzinfo=UTC).timestamp()
    assert before - 2 <= issued <= time.time() + 1
    assert abs(expires - (issued + 24 * 3600)) <= 1
    domain = {"id": EXAMPLE_DOMAIN_ID, "name": principals.domain_name}
    assert body["project"] == {"id": PROJECT_ID, "name": PROJECT_ID, "domain": domain}
    assert body["user"]["name"] == principals.user_name
    assert body["user"]["domain"] == domain
    assert re.fullmatch(r"[0-9a-f]{32}", body["user"]["id"])
    # And the token verifies under the service's token key, for that project and user
    claims = tokens.verify(token_key(aws_services), token)
    assert (claims.project_id, claims.user, claims.domain_id) == (PROJECT_ID, "alice", EXAMPLE_DOMAIN_ID)
    assert claims.expires_at == int(expires)


def test_create_token_direct_event(kms, principals) -> None:
    # Given the create-token sample direct invocation (no credentials, no project)
    event = read_event("create_token", "direct.json")

    # When the function handles it
    body = kms.invoke("create_token", event)

    # Then the body comes back as a dict, the token under an extra top-level key
    assert set(body) == {"token", "X-Subject-Token"}
    assert body["X-Subject-Token"].startswith("skms2.")
    assert body["token"]["project"]["id"] == PROJECT_ID
    assert body["token"]["user"]["name"] == principals.user_name


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"password": "Example-Passw0rd?"}, id="wrong-password"),
        pytest.param({"password": "example-passw0rd!"}, id="password-case"),
        pytest.param({"name": "mallory"}, id="unknown-user"),
        pytest.param({"name": "Alice"}, id="user-name-case"),
        pytest.param({"domain_name": "other-domain"}, id="unknown-domain"),
    ],
)
def test_create_token_refuses_wrong_credentials(kms, principals, changes: dict[str, str]) -> None:
    # Given a token request with a wrong password, user or domain
    event = kms.token_event(principals, **changes)

    # When the function handles it
    reply = kms.api("create_token", event)

    # Then 401 in IAM's shape, and no token
    assert reply.status == 401, reply.raw_body
    assert reply.body["error"]["code"] == 401
    assert reply.body["error"]["title"] == "Unauthorized"
    assert "X-Subject-Token" not in reply.headers


def test_create_token_locks_a_user_name_after_repeated_failures(
    kms, aws_services: Services, principals, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skms.auth import passwords
    from skms.logic import tokens as token_logic

    limit = aws_services.settings.login_max_failures
    # Given a user who got the password wrong `limit` times
    for _ in range(limit):
        assert kms.api("create_token", kms.token_event(principals, password="wrong")).status == 401
    checked: list[str] = []
    real_verify = passwords.verify_password

    def counting_verify(password: str, stored: str) -> bool:
        checked.append("scrypt")
        return real_verify(password, stored)

    monkeypatch.setattr(passwords, "verify_password", counting_verify)

    # When the right password comes next, Then it is refused as locked, without a password check
    reply = kms.api("create_token", kms.token_event(principals))
    assert reply.status == 401
    assert reply.body["error"]["message"] == token_logic.LOCKED_MESSAGE
    assert "X-Subject-Token" not in reply.headers
    assert checked == []
    # And a name that does not exist locks the same way (a lockout tells nothing about existence)
    for _ in range(limit):
        kms.api("create_token", kms.token_event(principals, name="mallory"))
    assert (
        kms.api("create_token", kms.token_event(principals, name="mallory")).body["error"]["message"]
        == token_logic.LOCKED_MESSAGE
    )

    # When the lockout window has passed, Then the right password works again
    later = time.time() + 2 * aws_services.settings.login_lockout_seconds
    checked.clear()
    monkeypatch.setattr(token_logic, "_now", lambda: later)
    reply = kms.api("create_token", kms.token_event(principals))
    assert reply.status == 201, reply.raw_body
    assert checked == ["scrypt"]


def test_successful_logins_do_not_count_towards_the_lockout(kms, aws_services: Services, principals) -> None:
    # Given a user who logs in correctly more times than the failure limit, in one window
    for _ in range(aws_services.settings.login_max_failures + 2):
        assert kms.api("create_token", kms.token_event(principals)).status == 201
    # Then the name is not locked: a wrong password is an ordinary failure, the right one still works
    reply = kms.api("create_token", kms.token_event(principals, password="wrong"))
    assert reply.status == 401
    assert reply.body["error"]["message"] != "Too many failed attempts for this user; try again later."
    assert kms.api("create_token", kms.token_event(principals)).status == 201


def test_create_token_failures_below_the_limit_do_not_lock(kms, aws_services: Services, principals) -> None:
    # Given one failure fewer than the limit
    for _ in range(aws_services.settings.login_max_failures - 1):
        assert kms.api("create_token", kms.token_event(principals, password="wrong")).status == 401
    # When the right password comes, Then a token is issued
    assert kms.api("create_token", kms.token_event(principals)).status == 201


def test_create_token_refuses_a_disabled_user(kms, aws_services: Services) -> None:
    # Given a user stored disabled, with the right password
    record = create_user(
        dataclasses.replace(
            aws_services,
            stores=dataclasses.replace(
                aws_services.stores, principals=cast("PrincipalStore", _DiscardingPrincipalStore())
            ),
        ),
        name="carol",
        password="Carol-Passw0rd!",
        domain_id=EXAMPLE_DOMAIN_ID,
        domain_name="example-domain",
        project_ids=(PROJECT_ID,),
    )
    aws_services.stores.principals.create_user(dataclasses.replace(record, enabled=False))

    # When a token is asked for; Then 401 in IAM's shape, and no token
    reply = kms.api("create_token", kms.token_event(name="carol", password="Carol-Passw0rd!"))
    assert reply.status == 401, reply.raw_body
    assert reply.body["error"]["code"] == 401
    assert "X-Subject-Token" not in reply.headers


def test_create_token_refuses_a_project_not_granted_to_the_user(kms, principals) -> None:
    # Given the user's right password, and a project the user was not granted
    event = kms.token_event(principals, project_id=OTHER_PROJECT_ID)

    # When the function handles it; Then 401 in IAM's shape, and no token
    reply = kms.api("create_token", event)
    assert reply.status == 401, reply.raw_body
    assert reply.body["error"]["code"] == 401
    assert "X-Subject-Token" not in reply.headers


def test_a_user_granted_two_projects_gets_a_token_for_each(kms, aws_services: Services) -> None:
    # Given a user granted two projects
    create_user(
        aws_services,
        name="bob",
        password="Bob-Passw0rd!",
        domain_id=EXAMPLE_DOMAIN_ID,
        domain_name="example-domain",
        project_ids=(PROJECT_ID, OTHER_PROJECT_ID),
    )

    # When a token is asked for each; Then each is scoped to its project
    for project_id in (PROJECT_ID, OTHER_PROJECT_ID):
        event = kms.token_event(project_id=project_id, name="bob", password="Bob-Passw0rd!")
        reply = kms.api("create_token", event)
        assert reply.status == 201, reply.raw_body
        assert reply.body["token"]["project"]["id"] == project_id
        claims = tokens.verify(token_key(aws_services), reply.headers["X-Subject-Token"])
        assert claims.project_id == project_id


@pytest.mark.parametrize(
    "methods", [["token"], ["password", "token"], []], ids=["token", "password-and-token", "none"]
)
def test_create_token_supports_only_the_password_method(kms, principals, methods: list[str]) -> None:
    # Given a token request naming other identity methods
    event = kms.token_event(principals)
    body = json.loads(event["body"])
    body["auth"]["identity"]["methods"] = methods
    event["body"] = json.dumps(body)

    # When the function handles it; Then 400, and no token
    reply = kms.api("create_token", event)
    assert reply.status == 400, reply.raw_body
    assert "X-Subject-Token" not in reply.headers


@pytest.mark.parametrize("raw_body", ["", "{}", "{not json", '{"auth": {"identity": {}}}'])
def test_create_token_rejects_a_malformed_body(kms, principals, raw_body: str) -> None:
    event = kms.token_event(principals)
    event["body"] = raw_body
    reply = kms.api("create_token", event)
    assert reply.status == 400, reply.raw_body
    assert "X-Subject-Token" not in reply.headers


# -- the authorizer: tokens ------------------------------------------------------------------------


def test_authorizer_allows_an_issued_token(kms, principals) -> None:
    # Given a token issued by the token endpoint, in request_token.json
    token = kms.issue_token(principals)
    event = kms.token_authorizer_event(token)

    # When the authorizer runs
    policy = kms.authorize(event)

    # Then it allows exactly this method, naming the user, the domain and the project
    context = assert_allowed(policy, event)
    assert policy["principalId"] == principals.user_name
    assert context == {
        "auth_method": "token",
        "principal_id": principals.user_name,
        "domain_id": EXAMPLE_DOMAIN_ID,
        "project_id": PROJECT_ID,
        "user": principals.user_name,
        "project_allowed": "true",
        "user_id": SAMPLE_USER_ID,
    }
    # And that is the context of the sample api.json events (which a function takes as it is)
    sample = read_event("create_key", "api.json")["requestContext"]["authorizer"]
    assert {key: value for key, value in sample.items() if key != "integrationLatency"} == {
        "principalId": policy["principalId"],
        **context,
    }


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(lambda payload, mac: (2, len(payload) // 2), id="payload-middle"),
        pytest.param(lambda payload, mac: (2, 0), id="payload-first"),
        pytest.param(lambda payload, mac: (2, len(payload) - 1), id="payload-last"),
        pytest.param(lambda payload, mac: (3, len(mac) // 2), id="mac-middle"),
        pytest.param(lambda payload, mac: (3, 0), id="mac-first"),
        pytest.param(lambda payload, mac: (3, len(mac) - 1), id="mac-last"),
    ],
)
def test_authorizer_refuses_a_tampered_token(kms, principals, where: Any) -> None:
    # Given an issued token with one character of its payload or MAC changed
    token = kms.issue_token(principals)
    parts = token.split(".")
    part, index = where(parts[2], parts[3])
    parts[part] = replace_char(parts[part], index)
    tampered = ".".join(parts)
    assert tampered != token
    original = kms.token_authorizer_event(token)
    assert_allowed(kms.authorize(original), original)  # (the token itself is accepted)

    # When the authorizer runs on the tampered one; Then 401
    assert_unauthorized(kms, kms.token_authorizer_event(tampered))


def test_authorizer_refuses_a_token_mac_respelled_in_its_spare_bits(kms, principals) -> None:
    # Given an issued token whose MAC's last base64url character has its lowest bit flipped: the
    # 32-byte MAC leaves that character's 2 low bits unused, so it decodes to the same bytes
    token = kms.issue_token(principals)
    prefix, key_id, payload, mac = token.split(".")
    assert len(mac) == 43
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = mac[:-1] + alphabet[alphabet.index(mac[-1]) ^ 1]
    assert base64.urlsafe_b64decode(respelled + "=") == base64.urlsafe_b64decode(mac + "=")

    # When the authorizer runs on it; Then 401: a token has exactly one accepted spelling
    assert_unauthorized(kms, kms.token_authorizer_event(f"{prefix}.{key_id}.{payload}.{respelled}"))


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(lambda token: "", id="empty"),
        pytest.param(lambda token: token + ".x", id="extra-part"),
        pytest.param(lambda token: token.replace("skms2.", "skms1.", 1), id="other-version"),
        pytest.param(lambda token: token.replace("skms2.1.", "skms2.2.", 1), id="other-key"),
        pytest.param(lambda token: token.rsplit(".", 1)[0], id="no-mac"),
        pytest.param(lambda token: token + "=", id="padded-mac"),
        pytest.param(lambda token: "x" * 5000, id="huge"),
    ],
)
def test_authorizer_refuses_a_malformed_token(kms, principals, forged: Any) -> None:
    token = kms.issue_token(principals)
    event = kms.token_authorizer_event(forged(token))
    if not forged(token):
        kms.remove_header(event, "X-Auth-Token")  # an empty header is no credential at all
    assert_unauthorized(kms, event)


def test_the_placeholder_token_of_the_sample_events_is_refused(kms, aws_services: Services) -> None:
    # Given request_token.json as it is: its placeholder token is MAC'd with another key
    event = kms.authorizer_event("token")

    # When the authorizer runs; Then 401
    assert_unauthorized(kms, event)


def test_a_token_of_another_service_key_is_refused(kms, aws_services: Services) -> None:
    # Given a well-formed token for the right project, MAC'd with a key that is not the service's
    forged, _ = tokens.issue(b"\x01" * 32, domain_id=EXAMPLE_DOMAIN_ID, project_id=PROJECT_ID, user="alice")
    assert_unauthorized(kms, kms.token_authorizer_event(forged))


def test_authorizer_denies_a_token_used_for_another_project(kms, principals) -> None:
    # Given a token scoped to PROJECT_ID, sent on a request for another project
    token = kms.issue_token(principals)
    event = move_to_project(kms, kms.token_authorizer_event(token), OTHER_PROJECT_ID)

    # When the authorizer runs; Then it denies with KMS.0321 (403)
    context = assert_denied(kms.authorize(event), event, "KMS.0321")
    assert context["project_id"] == PROJECT_ID


@pytest.mark.parametrize(
    ("age", "allowed"),
    [
        pytest.param(timedelta(hours=25), False, id="issued-25h-ago"),
        pytest.param(timedelta(hours=24, seconds=1), False, id="issued-24h-1s-ago"),
        pytest.param(timedelta(hours=23), True, id="issued-23h-ago"),
    ],
)
def test_authorizer_refuses_an_expired_token(
    kms, aws_services: Services, principals, age: timedelta, allowed: bool
) -> None:
    # Given a token of the principals' user issued with the service's key ``age`` ago (tokens live
    # 24 hours)
    user = aws_services.stores.principals.get_user(principals.domain_name, principals.user_name)
    assert user is not None
    token, claims = tokens.issue(
        token_key(aws_services),
        domain_id=EXAMPLE_DOMAIN_ID,
        project_id=PROJECT_ID,
        user=user.name,
        user_id=user.user_id,
        domain_name=user.domain_name,
        now=int(time.time() - age.total_seconds()),
    )
    event = kms.token_authorizer_event(token)

    # When the authorizer runs; Then only the unexpired one is allowed
    if allowed:
        assert assert_allowed(kms.authorize(event), event)["principal_id"] == user.name
    else:
        assert claims.expires_at <= time.time()
        assert_unauthorized(kms, event)


def test_a_token_survives_a_cold_start(kms, aws_services: Services, aws_settings, principals) -> None:
    # Given a token issued by one function
    token = kms.issue_token(principals)

    # When a cold authorizer (fresh services: empty caches) checks it
    from skms.runtime import build_services, set_services

    set_services(build_services(aws_settings))

    # Then it finds the same token key in the table and allows it
    event = kms.token_authorizer_event(token)
    assert_allowed(kms.authorize(event), event)


# -- through the gateway: authorizer, then function -------------------------------------------------


@pytest.mark.parametrize("function", KMS_FUNCTIONS)
def test_token_requests_go_through(kms, principals, function: str) -> None:
    # Given a key, a data key, and a real token in place of the sample events' placeholder
    key_id = kms.create_key()
    created = kms.create_datakey(key_id)
    token = kms.issue_token(principals)
    values = {
        "create_key": {"key_alias": "through-token"},
        "create_datakey": {"key_id": key_id},
        "decrypt_datakey": {
            "key_id": key_id,
            "cipher_text": created["cipher_text"],
            "datakey_cipher_length": "32",
        },
    }[function]
    event = kms.api_event(function, kms.sample_body(function, **values))
    kms.set_header(event, "X-Auth-Token", token)

    # When API Gateway runs the authorizer, then the function
    reply = kms.gateway(function, event)

    # Then 200, the caller's domain being the user's
    assert reply.status == 200, reply.raw_body
    if function == "create_key":
        assert reply.body["key_info"]["domain_id"] == EXAMPLE_DOMAIN_ID


@pytest.mark.parametrize("function", KMS_FUNCTIONS)
def test_aksk_requests_go_through(kms, principals, function: str) -> None:
    # Given a key and a data key, and an SDK request signed with the access key
    key_id = kms.create_key()
    created = kms.create_datakey(key_id)
    values = {
        "create_key": {"key_alias": "through-aksk"},
        "create_datakey": {"key_id": key_id},
        "decrypt_datakey": {
            "key_id": key_id,
            "cipher_text": created["cipher_text"],
            "datakey_cipher_length": "32",
        },
    }[function]
    event = kms.signed_api_event(function, principals, kms.sample_body(function, **values), context=False)

    # When API Gateway runs the authorizer, then the function
    reply = kms.gateway(function, event)

    # Then 200
    assert reply.status == 200, reply.raw_body
    if function == "decrypt_datakey":
        assert reply.body["data_key"] == created["plain_text"]


def test_gateway_refusals_are_huawei_error_bodies(kms, principals) -> None:
    # Given a request with a tampered token, and a token for another project
    token = kms.issue_token(principals)
    tampered = kms.api_event("create_key")
    kms.set_header(tampered, "X-Auth-Token", token[:-3] + "AAA")
    elsewhere = move_to_project(kms, kms.api_event("create_key"), OTHER_PROJECT_ID)
    kms.set_header(elsewhere, "X-Auth-Token", token)

    # When they go through API Gateway; Then 401 APIGW.0301 and 403 KMS.0321
    assert error_code(kms.gateway("create_key", tampered)) == (401, "APIGW.0301")
    assert error_code(kms.gateway("create_key", elsewhere)) == (403, "KMS.0321")


# -- the function's own check (step 2) ---------------------------------------------------------------


def test_function_accepts_a_correctly_signed_aksk_request(kms, aws_services: Services, principals) -> None:
    # Given a create-key request signed now with the access key, with the authorizer's AK/SK context
    event = kms.signed_api_event("create_key", principals)

    # When the function handles it
    reply = kms.api("create_key", event)

    # Then 200, the key in the access key's domain
    assert reply.status == 200, reply.raw_body
    assert reply.body["key_info"]["domain_id"] == EXAMPLE_DOMAIN_ID
    assert aws_services.stores.keys.get_key(PROJECT_ID, reply.body["key_info"]["key_id"]) is not None


def test_function_accepts_a_signed_base64_body(kms, principals) -> None:
    # Given a signed request whose body API Gateway passes base64-encoded
    event = kms.signed_api_event("create_key", principals)
    event["body"] = base64.b64encode(event["body"].encode("utf-8")).decode("ascii")
    event["isBase64Encoded"] = True

    # When the function handles it; Then the signature is checked over the decoded bytes: 200
    assert kms.api("create_key", event).status == 200


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(
            lambda e: e.update(body=e["body"].replace("skms-sample-key", "skms-sample-kez")), id="value"
        ),
        pytest.param(lambda e: e.update(body=e["body"] + " "), id="trailing-space"),
        pytest.param(lambda e: e.update(body=json.dumps(json.loads(e["body"]), indent=1)), id="reformatted"),
        pytest.param(lambda e: e.update(body=""), id="removed"),
    ],
)
def test_function_refuses_a_body_altered_after_signing(
    kms, aws_services: Services, principals, alter: Any
) -> None:
    # Given a correctly signed request whose body is changed afterwards
    event = kms.signed_api_event("create_key", principals)
    alter(event)

    # When the function handles it; Then 401 APIGW.0301, and no key is created
    reply = kms.api("create_key", event)
    assert error_code(reply) == (401, "APIGW.0301")
    assert aws_services.stores.keys.count_keys(PROJECT_ID) == 0


def test_function_refuses_a_request_moved_to_another_project(kms, aws_services: Services, principals) -> None:
    # Given a signed request for PROJECT_ID whose path is changed to another project
    event = move_to_project(kms, kms.signed_api_event("create_key", principals), OTHER_PROJECT_ID)

    # When the function handles it with the authorizer's context (for PROJECT_ID); Then 403 KMS.0307
    assert error_code(kms.api("create_key", event)) == (403, "KMS.0307")

    # And when the context names the new project too, the signature does not match: 401
    event["requestContext"]["authorizer"]["project_id"] = OTHER_PROJECT_ID
    assert error_code(kms.api("create_key", event)) == (401, "APIGW.0301")
    assert aws_services.stores.keys.count_keys(OTHER_PROJECT_ID) == 0


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(
            lambda kms, e: e["requestContext"].update(
                path=e["requestContext"]["path"].replace("/kms/", "/kms2/")
            ),
            id="path",
        ),
        pytest.param(lambda kms, e: e.update(httpMethod="PUT"), id="method"),
        pytest.param(lambda kms, e: kms.set_header(e, "User-Agent", "curl/8.5.0"), id="signed-header"),
        pytest.param(
            lambda kms, e: e.update(
                queryStringParameters={"limit": "1"}, multiValueQueryStringParameters={"limit": ["1"]}
            ),
            id="query-added",
        ),
        pytest.param(
            lambda kms, e: kms.set_header(e, "X-Sdk-Date", one_second_earlier(e)), id="date-changed"
        ),
        pytest.param(
            lambda kms, e: kms.set_header(e, "X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD"), id="unsigned"
        ),
    ],
)
def test_function_refuses_a_request_altered_after_signing(kms, principals, alter: Any) -> None:
    # Given a correctly signed request altered afterwards in something the signature covers
    event = kms.signed_api_event("create_key", principals)
    alter(kms, event)

    # When the function handles it; Then 401
    assert error_code(kms.api("create_key", event)) == (401, "APIGW.0301")


def test_function_ignores_an_unsigned_header(kms, principals) -> None:
    # Given a correctly signed request with a header added that the signature does not cover
    event = kms.signed_api_event("create_key", principals)
    kms.set_header(event, "X-Forwarded-For", "198.51.100.7")

    # When the function handles it; Then it is accepted
    assert kms.api("create_key", event).status == 200


def test_function_refuses_a_signature_made_with_the_wrong_secret(kms, principals) -> None:
    # Given a request of the access key signed with another secret
    event = kms.signed_api_event("create_key", principals, secret_key="SKEXAMPLF")

    # When the function handles it; Then 401
    assert error_code(kms.api("create_key", event)) == (401, "APIGW.0301")


def test_function_refuses_a_stale_signature(kms, principals) -> None:
    # Given a request signed 20 minutes ago (a replay that reached the function)
    event = kms.signed_api_event("create_key", principals, when=datetime.now(UTC) - timedelta(minutes=20))

    # When the function handles it; Then 401
    assert error_code(kms.api("create_key", event)) == (401, "APIGW.0301")


def test_function_refuses_an_access_key_other_than_the_authorized_one(
    kms, aws_services: Services, principals
) -> None:
    # Given a second valid access key, and a request signed by it, with the first key's context
    other_key, other_secret = new_access_key()
    create_access_key(
        aws_services,
        domain_id=EXAMPLE_DOMAIN_ID,
        project_ids=(PROJECT_ID,),
        access_key=other_key,
        secret_key=other_secret,
    )
    other = dataclasses.replace(principals, access_key=other_key, secret_key=other_secret)
    event = kms.signed_api_event("create_key", other)
    event["requestContext"]["authorizer"] = kms.signed_api_event("create_key", principals)["requestContext"][
        "authorizer"
    ]

    # When the function handles it; Then 401: the signature is not the authorized key's
    assert error_code(kms.api("create_key", event)) == (401, "APIGW.0301")


@pytest.mark.parametrize(
    "context",
    [
        pytest.param(None, id="missing"),
        pytest.param({}, id="empty"),
        pytest.param({"principalId": "alice", "integrationLatency": 3}, id="principal-only"),
        pytest.param("unknown-method", id="unknown-auth-method"),
    ],
)
@pytest.mark.parametrize("function", KMS_FUNCTIONS)
def test_function_refuses_a_request_the_authorizer_did_not_authenticate(
    kms, function: str, context: Any
) -> None:
    # Given a sample API event whose authorizer context is missing or names no known method
    event = kms.api_event(function)
    if context is None:
        del event["requestContext"]["authorizer"]
    elif context == "unknown-method":
        event["requestContext"]["authorizer"]["auth_method"] = "anonymous"
    else:
        event["requestContext"]["authorizer"] = context

    # When the function handles it; Then 401 APIGW.0301
    reply = kms.api(function, event)
    assert error_code(reply) == (401, "APIGW.0301")
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize("method", ["token", "aksk"])
def test_function_refuses_a_context_for_another_project(kms, principals, method: str) -> None:
    # Given a request whose authorizer context names another project than the path
    event = (
        kms.api_event("create_key") if method == "token" else kms.signed_api_event("create_key", principals)
    )
    event["requestContext"]["authorizer"]["project_id"] = OTHER_PROJECT_ID

    # When the function handles it; Then 403 KMS.0307
    assert error_code(kms.api("create_key", event)) == (403, "KMS.0307")


def test_the_token_context_is_trusted_without_a_token_header(kms) -> None:
    # Given the sample event with its token context (the authorizer checked the token) and the
    # placeholder token, which no authorizer would accept
    event = kms.api_event("create_key")

    # When the function handles it; Then it trusts the context: 200
    assert kms.api("create_key", event).status == 200


# -- direct invocations ------------------------------------------------------------------------------


def test_direct_invocations_need_no_credentials(kms, aws_services: Services) -> None:
    # Given direct invocations with no credentials at all (IAM governs lambda:InvokeFunction)
    created = kms.invoke("create_key", kms.direct_event("create_key"))
    key_id = created["key_info"]["key_id"]
    datakey = kms.invoke("create_datakey", kms.direct_event("create_datakey", {"key_id": key_id}))
    body = {"key_id": key_id, "cipher_text": datakey["cipher_text"], "datakey_cipher_length": "32"}
    decrypted = kms.invoke("decrypt_datakey", kms.direct_event("decrypt_datakey", body))

    # Then each works, in the configured domain
    assert created["key_info"]["domain_id"] == aws_services.settings.domain_id
    assert decrypted["data_key"] == datakey["plain_text"]


def test_a_direct_invocation_may_name_its_domain(kms) -> None:
    event = {**kms.direct_event("create_key"), "domain_id": "e" * 32}
    assert kms.invoke("create_key", event)["key_info"]["domain_id"] == "e" * 32


# -- secrets at rest ---------------------------------------------------------------------------------


def test_the_secret_key_is_stored_only_wrapped(kms, aws_services: Services) -> None:
    # Given an access key with a random secret, created in the table
    access_key, secret_key = new_access_key()
    record = create_access_key(
        aws_services,
        domain_id=EXAMPLE_DOMAIN_ID,
        project_ids=(PROJECT_ID,),
        access_key=access_key,
        secret_key=secret_key,
    )

    # When the table is read back raw
    haystacks = table_haystacks(aws_services)

    # Then the access key's item holds the wrapped secret, never the secret in any encoding
    assert any(
        access_key.encode() in haystack and record.secret_wrapped in haystack for haystack in haystacks
    )
    for form in encodings(secret_key.encode("utf-8")):
        assert not any(form in haystack for haystack in haystacks), form[:6]
    # And the wrapped secret unwraps, through AWS KMS, to the secret
    aws_services.keyring.cache.clear()
    stored = aws_services.stores.principals.get_access_key(access_key)
    assert stored is not None
    assert secret_of(aws_services, stored) == secret_key.encode("utf-8")


def test_the_password_is_stored_only_as_a_scrypt_hash(kms, aws_services: Services, principals) -> None:
    # Given the example user, created in the table
    password = principals.password

    # When the table is read back raw
    haystacks = table_haystacks(aws_services)

    # Then the password is in no item in any encoding
    for form in encodings(password.encode("utf-8")):
        assert not any(form in haystack for haystack in haystacks), form[:6]
    # And the user's item holds a salted scrypt hash of it
    user = aws_services.stores.principals.get_user(principals.domain_name, principals.user_name)
    assert user is not None
    assert re.fullmatch(r"scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+", user.password_hash)
    assert any(user.password_hash.encode() in haystack for haystack in haystacks)
    assert passwords.verify_password(password, user.password_hash)
    assert not passwords.verify_password(password + "x", user.password_hash)


def test_the_token_key_is_stored_only_wrapped(kms, aws_services: Services, principals) -> None:
    # Given a token issued (which creates the service's token key)
    kms.issue_token(principals)
    key = token_key(aws_services)

    # When the table is read back raw; Then the token key is in no item in any encoding
    haystacks = table_haystacks(aws_services)
    assert len(key) == 32
    for form in encodings(key):
        assert not any(form in haystack for haystack in haystacks), form[:6]


# -- issue 15 item 4: authenticate before the body is parsed; one 401 for every failure -------------


@pytest.mark.parametrize("raw_body", ["{not json", "[" * 30_000, '{"key_alias": "\\ud800"}', "x" * 70_000])
def test_wrong_secret_with_a_malformed_body_is_401_not_400(kms, principals, raw_body: str) -> None:
    # Given a body that is not valid JSON (or too long), signed with a wrong secret
    event = kms.sign(kms.api_event("create_key", raw_body=raw_body), principals, secret_key="SKEXAMPLF")

    # When API Gateway and the function handle it
    reply = kms.gateway("create_key", event)

    # Then 401: the signature is checked over the raw body before the body is decoded
    assert error_code(reply) == (401, "APIGW.0301")


def test_right_secret_with_a_malformed_body_is_still_400(kms, principals) -> None:
    # The control of the test above: authenticated, the same body is refused as invalid JSON
    event = kms.sign(kms.api_event("create_key", raw_body="{not json"), principals)
    assert error_code(kms.gateway("create_key", event)) == (400, "KMS.0202")


def test_unknown_access_key_and_wrong_secret_answer_byte_identical_bodies(kms, principals) -> None:
    # Given one request by an access key that does not exist, one by a real key with a wrong secret
    unknown = dataclasses.replace(principals, access_key="AKUNKNOWN0000000000X")
    by_unknown = kms.sign(kms.api_event("create_key", {"key_alias": "a"}), unknown, context=False)
    by_impostor = kms.sign(
        kms.api_event("create_key", {"key_alias": "a"}), principals, secret_key="SKEXAMPLF"
    )

    # When API Gateway (authorizer, then function) handles each
    refused_by_gateway = kms.gateway("create_key", by_unknown)
    refused_by_function = kms.gateway("create_key", by_impostor)

    # Then the first is refused by the authorizer, the second by the function's signature check...
    assert refused_by_gateway.headers.get("X-Request-Id") is None
    assert refused_by_function.headers.get("X-Request-Id")
    # ...and an outsider cannot tell them apart: same status, byte for byte the same body
    assert refused_by_gateway.status == refused_by_function.status == 401
    assert refused_by_gateway.raw_body == refused_by_function.raw_body


def test_every_function_side_401_is_the_gateway_401_byte_for_byte() -> None:
    # template.yaml's UNAUTHORIZED gateway response and the function's 401 are one body
    from skms.api.handler import _api_response
    from skms.auth.authorizer import NotAuthenticated

    template_body = gateway_responses(TEMPLATE)["UNAUTHORIZED"]["ResponseTemplates"]["application/json"]
    for reason in ("unknown access key", "no authorizer context", "Malformed X-Sdk-Date."):
        error = NotAuthenticated(reason)
        assert _api_response(error.status, error.body(), "rid")["body"] == template_body
        assert reason not in template_body
