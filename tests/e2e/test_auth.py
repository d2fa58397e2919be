"""Authentication and tenancy of ``skms serve`` over real HTTP: AK/SK signatures (spec §F6), IAM
password tokens (``POST /v3/auth/tokens`` + ``X-Auth-Token``), project isolation, and no secret in
the server's logs.

The module has its own server (``module_server``): its bootstrap access key is project A's (the
``credentials`` fixture); project B's access key and the token users are created with the CLI on
its data dir while it runs. Every refused request is checked for status, error code, the exact
error body shape and X-Request-Id, and - where it tried to change something - that nothing changed
(the alias it tried to create is still free: a legitimate create of it succeeds, once).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import http.client
import json
import re
import secrets
import stat
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import (
    CreateDatakeyRequest,
    CreateDatakeyRequestBody,
    CreateKeyRequest,
    CreateKeyRequestBody,
    DecryptDatakeyRequest,
    DecryptDatakeyRequestBody,
    KmsClient,
)

pytestmark = pytest.mark.e2e

PROJECT_B = "5d6e7f8091a2b3c4d5e6f708192a3b4c"
PROJECT_NOT_GRANTED = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
DOMAIN_NAME = "skms-e2e-domain"
TOKEN_PATH = "/v3/auth/tokens"
GATEWAY_401_MSG = "Incorrect IAM authentication information: the request could not be authenticated."
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
IAM_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
JSON_CONTENT_TYPE_RE = re.compile(r"^application/json\b", re.IGNORECASE)
KEY_ID_RE = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
SIGNATURE_RE = re.compile(r"Signature=([0-9a-f]{64})")


# -- plumbing ------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(api: Any, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
    """Send exactly these headers (http.client adds Host if absent, Content-Length, Accept-Encoding)."""
    conn = api.connect()
    try:
        conn.request(method, path, body=body, headers=dict(headers))
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def base_headers(api: Any, **extra: str) -> dict[str, str]:
    """The headers the SDK sends besides Authorization (Host included)."""
    return {
        "Content-Type": api.content_type,
        "Host": f"{api.host}:{api.port}",
        "User-Agent": api.user_agent,
        "X-Project-Id": api.credentials.project_id,
        "X-Sdk-Date": datetime.now(UTC).strftime(SDK_DATE_FORMAT),
        **extra,
    }


def sign_only(
    api: Any, method: str, path: str, headers: Mapping[str, str], signed: list[str], body: bytes
) -> str:
    """A correct §F6 signature that covers only the ``signed`` headers (lower-case, sorted), while
    the string to sign still uses the X-Sdk-Date header's value (for requests the conftest's
    signer, which signs every header, cannot produce)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    canonical = "\n".join(
        [
            method,
            "/".join(quote(segment, safe="~") for segment in path.split("/")) + "/",
            "",
            "".join(f"{name}:{lowered[name].strip()}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = f"SDK-HMAC-SHA256\n{lowered['x-sdk-date']}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(api.credentials.sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    access, signed_headers = api.credentials.ak, ";".join(signed)
    return f"SDK-HMAC-SHA256 Access={access}, SignedHeaders={signed_headers}, Signature={signature}"


def as_json(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def check_kms_refusal(answer: Any, status: int, code: str, message: str | None = None) -> str:
    """Status, the exact Huawei error body {"error": {"error_code", "error_msg"}}, X-Request-Id."""
    assert answer.status == status, (answer.status, answer.body)
    assert answer.headers.get("X-Request-Id"), f"no X-Request-Id on {answer.status}: {answer.headers}"
    assert JSON_CONTENT_TYPE_RE.match(answer.headers.get("Content-Type", "")), answer.headers
    payload = json.loads(answer.body)
    assert isinstance(payload, dict), payload
    assert set(payload) == {"error"}, payload
    error = payload["error"]
    assert isinstance(error, dict), payload
    assert set(error) == {"error_code", "error_msg"}, payload
    assert error["error_code"] == code, payload
    assert isinstance(error["error_msg"], str), payload
    assert error["error_msg"], payload
    if message is not None:
        assert error["error_msg"] == message, payload
    assert answer.headers.get("X-Subject-Token") is None
    return str(error["error_msg"])


def check_unauthenticated(answer: Any, *, by_gateway: bool = False) -> str:
    """401 APIGW.0301; the gateway's refusals have one fixed message (no reason leaks)."""
    return check_kms_refusal(answer, 401, "APIGW.0301", GATEWAY_401_MSG if by_gateway else None)


def check_iam_refusal(answer: Answer) -> None:
    """The token endpoint's 401, in IAM's shape {"error": {"code": 401, "message", "title"}}."""
    assert answer.status == 401, (answer.status, answer.body)
    assert answer.headers.get("X-Request-Id"), answer.headers
    assert answer.headers.get("X-Subject-Token") is None, "no token on a refusal"
    payload = answer.json()
    assert set(payload) == {"error"}, payload
    error = payload["error"]
    assert set(error) == {"code", "message", "title"}, payload
    assert error["code"] == 401, payload
    assert error["title"] == "Unauthorized", payload
    assert isinstance(error["message"], str), payload
    assert error["message"], payload


def check_alias_was_not_created(api: Any, alias: str) -> None:
    """Nothing changed: the alias is still free in the api's project (and the check can fail)."""
    created = api.post("create-key", {"key_alias": alias})
    assert created.status == 200, (created.status, created.body)
    assert KEY_ID_RE.fullmatch(created.json()["key_info"]["key_id"])
    # A new request (the same one again at once would be a replay: README, Replayed requests)
    again = api.post("create-key", {"key_alias": alias, "sequence": str(uuid.uuid4())})
    check_kms_refusal(again, 400, "KMS.1104")


def token_request_body(name: str, password: str, project_id: str, domain: str = DOMAIN_NAME) -> bytes:
    return as_json(
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": name, "password": password, "domain": {"name": domain}}},
                },
                "scope": {"project": {"id": project_id}},
            }
        }
    )


def request_token(api: Any, name: str, password: str, project_id: str, domain: str = DOMAIN_NAME) -> Answer:
    body = token_request_body(name, password, project_id, domain)
    headers = {"Content-Type": "application/json;charset=utf8", "Host": f"{api.host}:{api.port}"}
    return send(api, "POST", TOKEN_PATH, body, headers)


def with_token(api: Any, token: str, operation: str, payload: Any, project_id: str | None = None) -> Answer:
    """A request authenticated only by X-Auth-Token (no Authorization header)."""
    headers = {
        "Content-Type": api.content_type,
        "Host": f"{api.host}:{api.port}",
        "User-Agent": api.user_agent,
        "X-Auth-Token": token,
    }
    return send(api, "POST", api.path(operation, project_id), as_json(payload), headers)


def sdk_client(base_url: str, creds: Any) -> KmsClient:
    """The SDK configured with nothing but endpoint, AK, SK and project id."""
    return (
        KmsClient.new_builder()
        .with_credentials(BasicCredentials(creds.ak, creds.sk, creds.project_id))
        .with_endpoint(base_url)
        .build()
    )


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secrets_used() -> list[str]:
    """Every secret (SK, password, token, signature) a test of this module sent or received."""
    return []


@pytest.fixture(scope="module")
def server(module_server: Any, credentials: Any, secrets_used: list[str]) -> Any:
    secrets_used.append(credentials.sk)
    return module_server


@pytest.fixture(scope="module")
def creds_a(credentials: Any) -> Any:
    return credentials


@pytest.fixture(scope="module")
def creds_b(server: Any, skms_cli: Any, creds_a: Any, secrets_used: list[str]) -> Any:
    """Project B's own access key (a second principal), created with the CLI while the server runs."""
    creds = skms_cli.create_access_key(server, PROJECT_B)
    assert creds.ak != creds_a.ak
    secrets_used.append(creds.sk)
    return creds


@pytest.fixture(scope="module")
def api_a(server: Any, raw_api_factory: Any, creds_a: Any) -> Any:
    return raw_api_factory(server.base_url, creds_a)


@pytest.fixture(scope="module")
def api_b(server: Any, raw_api_factory: Any, creds_b: Any) -> Any:
    return raw_api_factory(server.base_url, creds_b)


@dataclass(frozen=True)
class User:
    name: str
    password: str = dataclasses.field(repr=False)


@pytest.fixture(scope="module")
def user(server: Any, skms_cli: Any, creds_a: Any, secrets_used: list[str]) -> User:
    """A token user of projects A and B (not PROJECT_NOT_GRANTED), created with the CLI."""
    name = f"e2e-user-{uuid.uuid4().hex[:8]}"
    password = f"Pw-{secrets.token_urlsafe(18)}!#%"
    secrets_used.append(password)
    projects = (creds_a.project_id, PROJECT_B)
    skms_cli.create_user(server, name, password, projects, DOMAIN_NAME)
    return User(name, password)


@pytest.fixture(scope="module")
def token_factory(api_a: Any, user: User, secrets_used: list[str]) -> Callable[[str], str]:
    """``token_factory(project_id)``: a fresh X-Auth-Token of ``user`` for that project."""

    def issue(project_id: str) -> str:
        answer = request_token(api_a, user.name, user.password, project_id)
        assert answer.status == 201, (answer.status, answer.body)
        token = answer.headers.get("X-Subject-Token")
        assert token, answer.headers
        secrets_used.append(token)
        return str(token)

    return issue


@pytest.fixture
def alias() -> str:
    return f"auth-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def track(secrets_used: list[str]) -> Callable[[Mapping[str, str]], None]:
    """Record the signature of an Authorization header among the secrets (for the log check)."""

    def record(headers: Mapping[str, str]) -> None:
        found = SIGNATURE_RE.search(headers.get("Authorization", ""))
        if found:
            secrets_used.append(found.group(1))

    return record


@pytest.fixture(scope="module")
def key_a(api_a: Any) -> str:
    """An AES_256 key of project A."""
    result = api_a.post_ok("create-key", {"key_alias": f"auth-a-{uuid.uuid4().hex[:12]}"})
    return str(result["key_info"]["key_id"])


# -- the official SDK ----------------------------------------------------------------------------


def test_sdk_with_only_endpoint_ak_sk_and_project_id(server: Any, creds_a: Any, alias: str) -> None:
    # Given the SDK configured with endpoint + AK + SK + project id and nothing else
    client = sdk_client(server.base_url, creds_a)
    # When it creates a key, a data key, and decrypts the data key
    key = client.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=alias)))
    key_id = key.key_info.key_id
    assert KEY_ID_RE.fullmatch(key_id)
    datakey = client.create_datakey(
        CreateDatakeyRequest(body=CreateDatakeyRequestBody(key_id=key_id, datakey_length="512"))
    )
    assert len(datakey.plain_text) == 128
    decrypted = client.decrypt_datakey(
        DecryptDatakeyRequest(
            body=DecryptDatakeyRequestBody(
                key_id=key_id, cipher_text=datakey.cipher_text, datakey_cipher_length="64"
            )
        )
    )
    # Then it gets the same data key back
    assert decrypted.data_key == datakey.plain_text
    assert decrypted.datakey_dgst == hashlib.sha256(bytes.fromhex(datakey.plain_text)).hexdigest().upper()


def test_sdk_with_a_wrong_secret_key_is_401(server: Any, creds_a: Any, api_a: Any, alias: str) -> None:
    # Given the SDK with the right AK and project but a wrong SK
    client = sdk_client(server.base_url, dataclasses.replace(creds_a, sk="wrong-" + creds_a.sk[6:]))
    # When it tries to create a key
    with pytest.raises(ClientRequestException) as caught:
        client.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=alias)))
    # Then it gets 401 APIGW.0301 with a message and the request id
    exc = caught.value
    assert (exc.status_code, exc.error_code) == (401, "APIGW.0301"), exc
    assert exc.error_msg
    assert exc.request_id
    # And nothing was created
    check_alias_was_not_created(api_a, alias)


# -- AK/SK: refused requests ---------------------------------------------------------------------


def test_no_credentials_is_401(api_a: Any, alias: str) -> None:
    # A request with neither Authorization nor X-Auth-Token
    answer = send(api_a, "POST", api_a.path("create-key"), as_json({"key_alias": alias}), base_headers(api_a))
    check_unauthenticated(answer, by_gateway=True)
    check_alias_was_not_created(api_a, alias)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic dXNlcjpwYXNz", id="basic"),
        pytest.param("SDK-HMAC-SHA256", id="scheme-only"),
        pytest.param("SDK-HMAC-SHA256 Access={ak}", id="no-signature"),
        pytest.param(
            "SDK-HMAC-SHA256 Access={ak}, SignedHeaders=host;x-sdk-date, Signature=xyz", id="sig-not-hex"
        ),
        pytest.param(
            "SDK-HMAC-SHA256 Access={ak}, SignedHeaders=x-sdk-date;host, Signature=" + "0" * 64,
            id="headers-unsorted",
        ),
        pytest.param(
            "SDK-HMAC-SHA512 Access={ak}, SignedHeaders=host;x-sdk-date, Signature=" + "0" * 64,
            id="other-algorithm",
        ),
        pytest.param("{valid}, Extra=1", id="trailing-garbage"),
    ],
)
def test_malformed_authorization_is_401(api_a: Any, alias: str, authorization: str) -> None:
    body = as_json({"key_alias": alias})
    path = api_a.path("create-key")
    valid = api_a.signed_headers("POST", path, body)["Authorization"]
    headers = base_headers(api_a, Authorization=authorization.format(ak=api_a.credentials.ak, valid=valid))
    check_unauthenticated(send(api_a, "POST", path, body, headers), by_gateway=True)
    check_alias_was_not_created(api_a, alias)


def test_unknown_access_key_is_401(
    server: Any, raw_api_factory: Any, creds_a: Any, api_a: Any, alias: str
) -> None:
    stranger = raw_api_factory(server.base_url, dataclasses.replace(creds_a, ak="UNKNOWNACCESSKEY0000"))
    check_unauthenticated(stranger.post("create-key", {"key_alias": alias}), by_gateway=True)
    check_alias_was_not_created(api_a, alias)


def test_wrong_secret_key_is_401(
    server: Any, raw_api_factory: Any, creds_a: Any, api_a: Any, alias: str
) -> None:
    impostor = raw_api_factory(server.base_url, dataclasses.replace(creds_a, sk=creds_a.sk[::-1]))
    check_unauthenticated(impostor.post("create-key", {"key_alias": alias}))
    check_alias_was_not_created(api_a, alias)


def test_wrong_secret_key_with_malformed_json_is_401(
    server: Any, raw_api_factory: Any, creds_a: Any, api_a: Any, track: Callable[..., None]
) -> None:
    # Given a request whose body is not JSON, signed with a wrong secret key
    impostor = raw_api_factory(server.base_url, dataclasses.replace(creds_a, sk=creds_a.sk[::-1]))
    path = impostor.path("create-key")
    body = b'{"key_alias": "half'
    headers = impostor.signed_headers("POST", path, body)
    track(headers)
    # When it is sent; Then 401 (authentication comes before the body is parsed), not 400 KMS.0202
    check_unauthenticated(send(impostor, "POST", path, body, headers), by_gateway=True)


def test_unknown_access_key_and_wrong_secret_key_give_byte_identical_bodies(
    server: Any, raw_api_factory: Any, creds_a: Any, alias: str
) -> None:
    # Given a request by an access key that does not exist, and one by a real key with a wrong SK
    stranger = raw_api_factory(server.base_url, dataclasses.replace(creds_a, ak="UNKNOWNACCESSKEY0000"))
    impostor = raw_api_factory(server.base_url, dataclasses.replace(creds_a, sk=creds_a.sk[::-1]))
    # When each tries the same request
    by_stranger = stranger.post("create-key", {"key_alias": alias})
    by_impostor = impostor.post("create-key", {"key_alias": alias})
    # Then the answers cannot be told apart by their status or body
    assert by_stranger.status == by_impostor.status == 401
    assert by_stranger.body == by_impostor.body
    check_unauthenticated(by_impostor, by_gateway=True)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="payload-hashed"),
        pytest.param({"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}, id="unsigned-payload-declared"),
    ],
)
def test_body_altered_after_signing_is_401(
    api_a: Any, alias: str, extra: dict[str, str], track: Callable[..., None]
) -> None:
    # Given a request signed for one body
    path = api_a.path("create-key")
    signed_alias = alias + "-signed"
    headers = api_a.signed_headers("POST", path, as_json({"key_alias": signed_alias}), extra)
    track(headers)
    # When another body is sent under that signature
    answer = send(api_a, "POST", path, as_json({"key_alias": alias}), headers)
    # Then 401, and neither key exists
    check_unauthenticated(answer)
    check_alias_was_not_created(api_a, alias)
    check_alias_was_not_created(api_a, signed_alias)


def test_path_altered_after_signing_is_401(api_a: Any, alias: str, track: Callable[..., None]) -> None:
    # Given a request signed for create-datakey of project A
    body = as_json({"key_alias": alias})
    headers = api_a.signed_headers("POST", api_a.path("create-datakey"), body)
    track(headers)
    # When it is sent to create-key of the same project
    answer = send(api_a, "POST", api_a.path("create-key"), body, headers)
    # Then 401, and no key was created
    check_unauthenticated(answer)
    check_alias_was_not_created(api_a, alias)


def test_query_added_after_signing_is_401(api_a: Any, alias: str, track: Callable[..., None]) -> None:
    body = as_json({"key_alias": alias})
    path = api_a.path("create-key")
    headers = api_a.signed_headers("POST", path, body)
    track(headers)
    check_unauthenticated(send(api_a, "POST", path + "?limit=1", body, headers))
    check_alias_was_not_created(api_a, alias)


def test_correctly_signed_query_is_accepted(api_a: Any, alias: str) -> None:
    # The control of the test above: the same query, signed, passes authentication
    reply = api_a.request("POST", api_a.path("create-key") + "?limit=1", as_json({"key_alias": alias}))
    assert reply.status == 200, (reply.status, reply.body)


@pytest.mark.parametrize("minutes", [pytest.param(-20, id="20-min-old"), pytest.param(20, id="20-min-ahead")])
def test_sdk_date_out_of_window_is_401(
    api_a: Any, alias: str, minutes: int, track: Callable[..., None]
) -> None:
    # Given a correctly signed request whose X-Sdk-Date is 20 minutes off
    date = (datetime.now(UTC) + timedelta(minutes=minutes)).strftime(SDK_DATE_FORMAT)
    body = as_json({"key_alias": alias})
    path = api_a.path("create-key")
    headers = api_a.signed_headers("POST", path, body, {"X-Sdk-Date": date})
    track(headers)
    # Then it is refused as unauthenticated
    check_unauthenticated(send(api_a, "POST", path, body, headers), by_gateway=True)
    check_alias_was_not_created(api_a, alias)


def test_sdk_date_within_window_is_accepted(api_a: Any, alias: str) -> None:
    # The control of the test above: 10 minutes off is inside the 15-minute window
    date = (datetime.now(UTC) - timedelta(minutes=10)).strftime(SDK_DATE_FORMAT)
    reply = api_a.request(
        "POST", api_a.path("create-key"), as_json({"key_alias": alias}), headers={"X-Sdk-Date": date}
    )
    assert reply.status == 200, (reply.status, reply.body)


@pytest.mark.parametrize("unsigned", ["Host", "X-Sdk-Date"])
def test_required_header_not_signed_is_401(
    api_a: Any, alias: str, unsigned: str, track: Callable[..., None]
) -> None:
    # Given a valid signature over every header but Host (or X-Sdk-Date), which is still sent
    body = as_json({"key_alias": alias})
    path = api_a.path("create-key")
    headers = base_headers(api_a)
    signed = sorted(name.lower() for name in headers if name != unsigned)
    headers["Authorization"] = sign_only(api_a, "POST", path, headers, signed, body)
    assert f"SignedHeaders={';'.join(signed)}," in headers["Authorization"]
    track(headers)
    # Then it is refused
    check_unauthenticated(send(api_a, "POST", path, body, headers), by_gateway=True)
    check_alias_was_not_created(api_a, alias)


def test_access_key_of_project_a_on_project_b_path_is_403(
    api_a: Any, api_b: Any, creds_a: Any, alias: str
) -> None:
    # Project A's access key, correctly signed, on project B's path
    reply = api_a.request("POST", api_a.path("create-key", PROJECT_B), as_json({"key_alias": alias}))
    check_kms_refusal(reply, 403, "KMS.0307")
    # And nothing was created in B (nor in A)
    check_alias_was_not_created(api_b, alias)
    check_alias_was_not_created(api_a, alias)


# -- tokens --------------------------------------------------------------------------------------


def test_token_flow(api_a: Any, user: User, key_a: str, secrets_used: list[str], alias: str) -> None:
    # When the user asks for a token of project A
    before = datetime.now(UTC)
    answer = request_token(api_a, user.name, user.password, api_a.credentials.project_id)
    after = datetime.now(UTC)
    # Then 201, the token in X-Subject-Token, and IAM's token body expiring in about 24 hours
    assert answer.status == 201, (answer.status, answer.body)
    assert answer.headers.get("X-Request-Id")
    token = answer.headers.get("X-Subject-Token")
    assert token, answer.headers
    secrets_used.append(token)
    body = answer.json()
    assert token not in answer.body.decode(), "the token travels only in the header"
    info = body["token"]
    assert info["methods"] == ["password"]
    assert info["project"]["id"] == api_a.credentials.project_id
    assert info["user"]["name"] == user.name
    assert info["user"]["domain"]["name"] == DOMAIN_NAME
    expires_at = datetime.strptime(info["expires_at"], IAM_TIME_FORMAT).replace(tzinfo=UTC)
    issued_at = datetime.strptime(info["issued_at"], IAM_TIME_FORMAT).replace(tzinfo=UTC)
    assert before - timedelta(seconds=2) <= issued_at <= after + timedelta(seconds=2)
    lifetime = timedelta(hours=24)
    assert before + lifetime - timedelta(seconds=60) <= expires_at <= after + lifetime + timedelta(seconds=60)

    # When the token alone authenticates a create-key, a create-datakey and a decrypt-datakey
    created = with_token(api_a, token, "create-key", {"key_alias": alias})
    assert created.status == 200, (created.status, created.body)
    assert created.headers.get("X-Request-Id")
    key_id = created.json()["key_info"]["key_id"]
    datakey = with_token(api_a, token, "create-datakey", {"key_id": key_id, "datakey_length": "512"})
    assert datakey.status == 200, (datakey.status, datakey.body)
    plain, cipher = datakey.json()["plain_text"], datakey.json()["cipher_text"]
    decrypted = with_token(
        api_a,
        token,
        "decrypt-datakey",
        {"key_id": key_id, "cipher_text": cipher, "datakey_cipher_length": "64"},
    )
    # Then they work, in project A: the same data key comes back, also to A's access key
    assert decrypted.status == 200, (decrypted.status, decrypted.body)
    assert decrypted.json()["data_key"] == plain
    by_aksk = api_a.post_ok(
        "decrypt-datakey", {"key_id": key_id, "cipher_text": cipher, "datakey_cipher_length": "64"}
    )
    assert by_aksk["data_key"] == plain
    check_kms_refusal(with_token(api_a, token, "create-key", {"key_alias": alias}), 400, "KMS.1104")
    # And the token works on project A's existing keys too
    other = with_token(api_a, token, "create-datakey", {"key_id": key_a, "datakey_length": "256"})
    assert other.status == 200, (other.status, other.body)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"password": "wrong-password"}, id="wrong-password"),
        pytest.param({"name": "no-such-user"}, id="unknown-user"),
        pytest.param({"domain": "another-domain"}, id="wrong-domain"),
        pytest.param({"project_id": PROJECT_NOT_GRANTED}, id="project-not-granted"),
    ],
)
def test_token_refused_is_401_iam_shaped(
    api_a: Any, user: User, secrets_used: list[str], change: dict[str, str]
) -> None:
    asked = {
        "name": user.name,
        "password": user.password,
        "project_id": api_a.credentials.project_id,
        "domain": DOMAIN_NAME,
        **change,
    }
    secrets_used.append(asked["password"])
    check_iam_refusal(request_token(api_a, **asked))


def _tamper(token: str, how: str) -> str:
    prefix, key_id, payload_b64, mac_b64 = token.split(".")
    prefix = f"{prefix}.{key_id}"  # skms2.<signing key>
    if how == "mac":
        flipped = "A" if mac_b64[0] != "A" else "B"
        return f"{prefix}.{payload_b64}.{flipped}{mac_b64[1:]}"
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    if how == "project":
        payload["prj"] = PROJECT_B
    elif how == "expiry":
        payload["exp"] = int(payload["exp"]) + 365 * 24 * 3600
    forged = (
        base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    )
    assert forged != payload_b64
    return f"{prefix}.{forged}.{mac_b64}"


@pytest.mark.parametrize("how", ["mac", "project", "expiry"])
def test_altered_token_is_401(
    api_a: Any, api_b: Any, token_factory: Callable[[str], str], alias: str, how: str
) -> None:
    # Given a real token of project A, altered (its MAC, or the claims under the original MAC)
    token = _tamper(token_factory(api_a.credentials.project_id), how)
    # Then it authenticates nothing, in A or in the project it now names
    for api in (api_a, api_b):
        answer = with_token(api, token, "create-key", {"key_alias": alias})
        check_unauthenticated(answer, by_gateway=True)
    check_alias_was_not_created(api_a, alias)
    check_alias_was_not_created(api_b, alias)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(secrets.token_urlsafe(48), id="random"),
        pytest.param("skms2.1.e30.AAAA", id="empty-claims"),
        pytest.param("x" * 5000, id="huge"),
    ],
)
def test_bogus_token_is_401(api_a: Any, alias: str, token: str) -> None:
    check_unauthenticated(with_token(api_a, token, "create-key", {"key_alias": alias}), by_gateway=True)
    check_alias_was_not_created(api_a, alias)


def test_non_ascii_token_is_401(api_a: Any, alias: str) -> None:
    # http.client sends the header as latin-1 bytes; the server must refuse it as any bad token
    answer = with_token(api_a, "skms2.1.\u00e9.AAAA", "create-key", {"key_alias": alias})
    check_unauthenticated(answer, by_gateway=True)
    check_alias_was_not_created(api_a, alias)


def test_token_of_another_project_is_403(
    api_a: Any, api_b: Any, token_factory: Callable[[str], str], key_a: str, alias: str
) -> None:
    # Given a token for project B
    token_b = token_factory(PROJECT_B)
    # When it is used on project A's path
    check_kms_refusal(with_token(api_a, token_b, "create-key", {"key_alias": alias}), 403, "KMS.0321")
    check_kms_refusal(
        with_token(api_a, token_b, "create-datakey", {"key_id": key_a, "datakey_length": "512"}),
        403,
        "KMS.0321",
    )
    # Then nothing was created in A, and the token still works for B
    check_alias_was_not_created(api_a, alias)
    in_b = with_token(api_b, token_b, "create-key", {"key_alias": alias})
    assert in_b.status == 200, (in_b.status, in_b.body)


# -- tenancy -------------------------------------------------------------------------------------


def test_project_b_cannot_see_or_use_project_a_keys(
    api_a: Any, api_b: Any, key_a: str, token_factory: Callable[[str], str]
) -> None:
    # Given a data key of A's key
    created = api_a.post_ok("create-datakey", {"key_id": key_a, "datakey_length": "512"})
    decrypt = {"key_id": key_a, "cipher_text": created["cipher_text"], "datakey_cipher_length": "64"}
    # When B's access key or B's token names A's key on B's path: the key does not exist there
    check_kms_refusal(
        api_b.post("create-datakey", {"key_id": key_a, "datakey_length": "512"}), 404, "KMS.0207"
    )
    check_kms_refusal(api_b.post("decrypt-datakey", decrypt), 404, "KMS.0207")
    token_b = token_factory(PROJECT_B)
    check_kms_refusal(with_token(api_b, token_b, "decrypt-datakey", decrypt), 404, "KMS.0207")
    # When B's access key goes to A's path: refused
    check_kms_refusal(
        api_b.request("POST", api_b.path("decrypt-datakey", api_a.credentials.project_id), as_json(decrypt)),
        403,
        "KMS.0307",
    )
    # And A still decrypts its data key
    assert api_a.post_ok("decrypt-datakey", decrypt)["data_key"] == created["plain_text"]


def test_project_a_cannot_use_or_create_in_project_b(api_a: Any, api_b: Any, alias: str) -> None:
    # Given a key and a data key of project B
    key_b = api_b.post_ok("create-key", {"key_alias": f"auth-b-{uuid.uuid4().hex[:12]}"})["key_info"][
        "key_id"
    ]
    created = api_b.post_ok("create-datakey", {"key_id": key_b, "datakey_length": "512"})
    decrypt = {"key_id": key_b, "cipher_text": created["cipher_text"], "datakey_cipher_length": "64"}
    # When A names B's key on A's path: it does not exist there
    check_kms_refusal(
        api_a.post("create-datakey", {"key_id": key_b, "datakey_length": "512"}), 404, "KMS.0207"
    )
    check_kms_refusal(api_a.post("decrypt-datakey", decrypt), 404, "KMS.0207")
    # When A's access key goes to B's path: refused, for use and for creation
    on_b = api_a.path("decrypt-datakey", PROJECT_B)
    check_kms_refusal(api_a.request("POST", on_b, as_json(decrypt)), 403, "KMS.0307")
    on_b = api_a.path("create-datakey", PROJECT_B)
    check_kms_refusal(api_a.request("POST", on_b, as_json({"key_id": key_b})), 403, "KMS.0307")
    on_b = api_a.path("create-key", PROJECT_B)
    check_kms_refusal(api_a.request("POST", on_b, as_json({"key_alias": alias})), 403, "KMS.0307")
    # Then nothing was created in B, and B still decrypts its data key
    check_alias_was_not_created(api_b, alias)
    assert api_b.post_ok("decrypt-datakey", decrypt)["data_key"] == created["plain_text"]


# -- bootstrap without HUAWEICLOUD_SDK_* ---------------------------------------------------------


def test_first_start_without_sdk_credentials_writes_a_private_credentials_file(
    start_server: Callable[..., Any], creds_a: Any, raw_api_factory: Any
) -> None:
    # Given a server started on an empty data dir without HUAWEICLOUD_SDK_* in its environment
    server = start_server("bootstrap", sdk_credentials=False)
    # Then it wrote credentials.json, readable by its owner only
    path = server.data_dir / "credentials.json"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert set(document) == {"access", "secret", "project_id", "domain_id"}, document
    assert re.fullmatch(r"[0-9a-f]{32}", document["project_id"]), document["project_id"]
    creds = dataclasses.replace(
        creds_a, ak=document["access"], sk=document["secret"], project_id=document["project_id"]
    )
    # And the SDK with those credentials works
    client = sdk_client(server.base_url, creds)
    key = client.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias="bootstrap")))
    assert key.key_info.domain_id == document["domain_id"]
    # While credentials it was not given are unknown to it
    check_unauthenticated(raw_api_factory(server.base_url, creds_a).post("create-key", {"key_alias": "x"}))
    # When it restarts, the same file and credentials are reused
    server.restart()
    assert json.loads(path.read_text()) == document
    datakey = sdk_client(server.base_url, creds).create_datakey(
        CreateDatakeyRequest(body=CreateDatakeyRequestBody(key_id=key.key_info.key_id, datakey_length="256"))
    )
    assert len(datakey.plain_text) == 64
    # And the secret never reached its logs
    assert document["secret"] not in server.logs()


# -- logs ----------------------------------------------------------------------------------------


@pytest.fixture
def exercised(
    api_a: Any, api_b: Any, user: User, token_factory: Callable[[str], str], secrets_used: list[str]
) -> list[str]:
    """Run one success and one failure of every kind, so the log check stands on its own."""
    token_a = token_factory(api_a.credentials.project_id)
    assert (
        with_token(api_a, token_a, "create-key", {"key_alias": f"auth-log-{uuid.uuid4().hex[:8]}"}).status
        == 200
    )
    assert with_token(api_b, token_a, "create-key", {"key_alias": "never"}).status == 403
    assert with_token(api_a, _tamper(token_a, "mac"), "create-key", {"key_alias": "never"}).status == 401
    wrong_password = f"Wrong-{secrets.token_urlsafe(12)}"
    secrets_used.append(wrong_password)
    assert request_token(api_a, user.name, wrong_password, api_a.credentials.project_id).status == 401
    for api in (api_a, api_b):
        body = as_json({"key_alias": f"auth-log-{uuid.uuid4().hex[:8]}"})
        headers = api.signed_headers("POST", api.path("create-key"), body)
        secrets_used.append(SIGNATURE_RE.search(headers["Authorization"]).group(1))  # type: ignore[union-attr]
        assert send(api, "POST", api.path("create-key"), body, headers).status == 200
        assert send(api, "POST", api.path("create-key"), body + b" ", headers).status == 401
    return secrets_used


def test_no_secret_is_logged(server: Any, creds_a: Any, exercised: list[str]) -> None:
    logs = server.logs()
    # The logs were captured: the server's start (naming the public access key), and the
    # authorizer's outcomes - so a secret logged the same way would be found
    assert "skms listening" in logs, logs[:2000]
    assert creds_a.ak in logs, "the access key (public) is logged at start"
    assert '"outcome":"unauthorized"' in logs.replace(" ", ""), "refused requests are logged"
    # And none of the secret keys, passwords, tokens (or their MACs) or signatures appears
    needles: set[str] = set()
    for secret in exercised:
        needles.add(secret)
        if secret.startswith("skms2.") and secret.count(".") == 3:
            needles.add(secret.rsplit(".", 1)[1])
    assert len(needles) >= 8, needles
    leaked = sorted(f"{secret[:4]}...({len(secret)} chars)" for secret in needles if secret in logs)
    assert not leaked, f"secrets found in the server logs: {leaked}"
