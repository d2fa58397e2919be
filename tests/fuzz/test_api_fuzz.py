"""Fuzzing every operation of the OpenAPI document against ``skms serve`` with schemathesis.

The document is generated in-process from template.yaml and the models (:mod:`skms.openapi`), so
operations added since the last ``make openapi`` are fuzzed too. Requests are sent as a real client
sends them: ``project_id`` is the credential's project and, once schemathesis has built the body,
each request is signed with the AK/SK signature of spec §F6 or, every :data:`TOKEN_EVERY`-th one,
carries a real X-Auth-Token, so generated bodies reach the logic, not just the authorizer. To get
past "no such key" and "bad signature", valid requests of most operations are first made from real
keys of several specs, ciphertexts, signatures, MACs and a token user (:func:`_seed`), and each
valid generated request is mixed with one of them field by field (:func:`flatmap_case`), so that
fuzzed values meet real state.

Pass criteria, for every response: no 5xx; status code and body conform to the document; every
error has the Huawei body ``{"error": {"error_code": "KMS.xxxx" | "APIGW.xxxx", "error_msg": str}}``
(§F2), except the IAM-shaped 401 that the document declares for POST /v3/auth/tokens.

Bounded (``make test``): deterministic, fixed seed, ``SKMS_FUZZ_EXAMPLES`` (default
:data:`BOUNDED_EXAMPLES`) examples per operation. ``make fuzz`` runs a long one; ``SKMS_FUZZ_SEED``
explores other inputs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from skms.openapi import ERROR_CODE_PATTERN, build_document
from tests.e2e.conftest import (
    DEFAULT_AK,
    DEFAULT_PROJECT_ID,
    DEFAULT_SK,
    REPO_ROOT,
    Credentials,
    RawApi,
    SkmsServer,
    _server_env,
    create_user,
    sign_request,
)

pytestmark = [pytest.mark.fuzz, pytest.mark.e2e]

BOUNDED_EXAMPLES = 20
EXAMPLES = int(os.environ.get("SKMS_FUZZ_EXAMPLES") or BOUNDED_EXAMPLES)
SEED = int(os.environ.get("SKMS_FUZZ_SEED") or 20240101)
CREDENTIALS = Credentials(ak=DEFAULT_AK, sk=DEFAULT_SK, project_id=DEFAULT_PROJECT_ID)
SIGNED_HEADERS = ("Content-Type", "Host", "User-Agent", "X-Project-Id", "X-Sdk-Date")

schema = schemathesis.openapi.from_dict(
    build_document(REPO_ROOT / "template.yaml"),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES,
                "deterministic": True,
                "with-security-parameters": False,
                "database": "none",
            },
            "phases": {"stateful": {"enabled": False}},
            "parameters": {"path.project_id": CREDENTIALS.project_id},
        }
    ),
)


# -- the server and its seed data ----------------------------------------------------------------


class Seed:
    """Valid requests made from real keys, ciphertexts, signatures and a token user, by operationId
    (body fields, or path parameters for bodiless operations). Filled once the server runs."""

    bodies: ClassVar[dict[str, list[dict[str, Any]]]] = {}

    @classmethod
    def add(cls, operation: str, body: dict[str, Any]) -> None:
        cls.bodies.setdefault(operation, []).append(body)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SkmsServer]:
    root = tmp_path_factory.mktemp("skms-fuzz")
    server = SkmsServer(root / "data", root / "logs", _server_env(CREDENTIALS, {}))
    server.start()
    Seed.bodies.clear()
    _seed(RawApi(server.base_url, CREDENTIALS), server)
    # The recipes must keep working, or the fuzzing silently stays at the door of these operations.
    assert {"sign", "verify", "generate-mac", "verify-mac", "decrypt-data", "decrypt-datakey"} <= set(
        Seed.bodies
    )
    yield server
    server.close()


# (key_spec, key_usage) of the keys made before fuzzing; a spec the server refuses is skipped.
CRYPTO_KEYS = (
    ("AES_256", "ENCRYPT_DECRYPT"),
    ("SM4", "ENCRYPT_DECRYPT"),
    ("RSA_2048", "ENCRYPT_DECRYPT"),
    ("RSA_2048", "SIGN_VERIFY"),
    ("EC_P256", "SIGN_VERIFY"),
    ("EC_P256", "KEY_AGREEMENT"),
    ("SM2", "ENCRYPT_DECRYPT"),
    ("SM2", "SIGN_VERIFY"),
    ("ED25519", "SIGN_VERIFY"),
    ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ("HMAC_SM3", "GENERATE_VERIFY_MAC"),
)
SIGNING = {  # key_spec -> (signing_algorithm, message_type, message)
    "RSA_2048": ("RSASSA_PSS_SHA_256", "DIGEST", hashlib.sha256(b"fuzz").digest()),
    "EC_P256": ("ECDSA_SHA_256", "DIGEST", hashlib.sha256(b"fuzz").digest()),
    "SM2": ("SM2DSA_SM3", "RAW", b"fuzz"),
    "ED25519": ("ED25519_SHA_512", "RAW", b"fuzz"),
}
MAC_ALGORITHMS = {"HMAC_256": "HMAC_SHA_256", "HMAC_SM3": "HMAC_SM3"}
TOKEN_USER = ("fuzz-user", "fuzz-password-0123456789", "fuzz-domain")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _seed(api: RawApi, server: SkmsServer) -> None:
    """Make the keys, ciphertexts and signatures the valid requests of :class:`Seed` need."""

    def call(operation: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Send a request; keep it as a valid body of its operation if it succeeds."""
        reply = api.post(operation, body)
        if reply.status != 200:
            return None
        Seed.add(operation, body)
        result: dict[str, Any] = reply.json()
        return result

    def new_key(alias: str, **fields: str) -> str:
        key_id: str = api.post_ok("create-key", {"key_alias": alias, **fields})["key_info"]["key_id"]
        return key_id

    keys: dict[tuple[str, str], str] = {}
    for index, (spec, usage) in enumerate(CRYPTO_KEYS):
        created = call("create-key", {"key_alias": f"fuzz-{index}", "key_spec": spec, "key_usage": usage})
        if created:
            keys[(spec, usage)] = created["key_info"]["key_id"]
    call("list-keys", {"limit": "2"})
    call("gen-random", {"random_data_length": "256"})

    # Lifecycle operations share keys of their own, one in each state to start with, so that the
    # fuzzing walks the state machine while the crypto operations keep their enabled keys.
    enabled, disabled, pending = (new_key(f"fuzz-lifecycle-{n}") for n in range(3))
    api.post_ok("disable-key", {"key_id": disabled})
    api.post_ok("schedule-key-deletion", {"key_id": pending, "pending_days": "7"})
    for lifecycle_key in (enabled, disabled, pending):
        for operation in ("describe-key", "enable-key", "disable-key", "cancel-key-deletion"):
            Seed.add(operation, {"key_id": lifecycle_key})
        Seed.add("schedule-key-deletion", {"key_id": lifecycle_key, "pending_days": "1096"})
        Seed.add(
            "update-key-alias", {"key_id": lifecycle_key, "key_alias": f"fuzz-renamed-{lifecycle_key[:8]}"}
        )
        Seed.add("update-key-description", {"key_id": lifecycle_key, "key_description": "fuzzed"})
    call("get-publickey", {"key_id": keys.get(("EC_P256", "SIGN_VERIFY"), "")})

    aes, sm4 = keys[("AES_256", "ENCRYPT_DECRYPT")], keys.get(("SM4", "ENCRYPT_DECRYPT"), "")
    data_key = call("create-datakey", {"key_id": aes, "datakey_length": "256"})
    assert data_key is not None
    call("create-datakey-without-plaintext", {"key_id": sm4 or aes, "datakey_length": "128"})
    dek = bytes.fromhex(data_key["plain_text"])
    wrapped = data_key["cipher_text"]
    length = str(len(dek))
    call("decrypt-datakey", {"key_id": aes, "cipher_text": wrapped, "datakey_cipher_length": length})
    plain_hex = (dek + hashlib.sha256(dek).digest()).hex()
    call("encrypt-datakey", {"key_id": aes, "plain_text": plain_hex, "datakey_plain_length": length})
    call(
        "re-encrypt",
        {"cipher_text": wrapped, "destination_key_id": sm4 or aes, "datakey_cipher_length": length},
    )
    context = {"encryption_context": {"purpose": "fuzz"}, "additional_authenticated_data": "fuzz-aad"}
    for key_id, algorithm in (
        (aes, None),
        (sm4, None),
        (keys.get(("RSA_2048", "ENCRYPT_DECRYPT")), "RSAES_OAEP_SHA_256"),
        (keys.get(("SM2", "ENCRYPT_DECRYPT")), "SM2_ENCRYPT"),
    ):
        if not key_id:
            continue
        extra = {"encryption_algorithm": algorithm} if algorithm else context
        sealed = call("encrypt-data", {"key_id": key_id, "plain_text": "fuzz", **extra})
        if sealed:
            call("decrypt-data", {"key_id": key_id, "cipher_text": sealed["cipher_text"], **extra})
            source = {"source_encryption_algorithm": algorithm} if algorithm else {}
            call("re-encrypt", {"cipher_text": sealed["cipher_text"], "destination_key_id": aes, **source})
    for spec in ("RSA_2048", "ECC_NIST_P256"):
        call(
            f"create-{'rsa' if spec.startswith('RSA') else 'ec'}-datakey-pair",
            {"key_id": aes, "key_spec": spec},
        )

    for spec, (algorithm, message_type, message) in SIGNING.items():
        key_id = keys.get((spec, "SIGN_VERIFY"))
        body = {"key_id": key_id, "signing_algorithm": algorithm, "message_type": message_type}
        signed = call("sign", {**body, "message": _b64(message)}) if key_id else None
        if signed:
            call("verify", {**body, "message": _b64(message), "signature": signed["signature"]})
    for spec, algorithm in MAC_ALGORITHMS.items():
        key_id = keys.get((spec, "GENERATE_VERIFY_MAC"))
        body = {"key_id": key_id, "mac_algorithm": algorithm, "message": _b64(b"fuzz")}
        made = call("generate-mac", body) if key_id else None
        if made:
            call("verify-mac", {**body, "mac": made["mac"]})
    agreeing = keys.get(("EC_P256", "KEY_AGREEMENT"))
    if agreeing:
        peer = ec.generate_private_key(ec.SECP256R1()).public_key()
        der = peer.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        call(
            "derive-shared-secret",
            {"key_id": agreeing, "key_agreement_algorithm": "ECDH", "public_key": _b64(der)},
        )

    name, password, domain = TOKEN_USER
    create_user(server, name, password, (CREDENTIALS.project_id,), domain)
    identity = {
        "methods": ["password"],
        "password": {"user": {"name": name, "password": password, "domain": {"name": domain}}},
    }
    token_request: dict[str, Any] = {
        "auth": {"identity": identity, "scope": {"project": {"id": CREDENTIALS.project_id}}}
    }
    Seed.add("create-token", token_request)
    issued = requests.post(f"{server.base_url}/v3/auth/tokens", json=token_request, timeout=30)
    assert issued.status_code == 201, issued.text
    CLIENT_AUTH.token = issued.headers["X-Subject-Token"]
    for version in ("v1.0", "v1"):
        Seed.add("show-version", {"version_id": version})


_ABSENT = object()


def _mix(valid: dict[str, Any], generated: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Each field from the valid request or from the generated one (or absent, where one lacks it)."""
    options = {
        name: st.sampled_from([valid.get(name, _ABSENT), generated.get(name, _ABSENT)])
        for name in sorted(valid.keys() | generated.keys())
    }
    return st.fixed_dictionaries(options).map(lambda d: {k: v for k, v in d.items() if v is not _ABSENT})


@schema.hook
def flatmap_case(context: Any, case: schemathesis.Case[Any]) -> st.SearchStrategy[schemathesis.Case[Any]]:
    """Mix a valid (positive) generated request with a real one of its operation, field by field,
    so that fuzzed values meet real keys, ciphertexts and signatures. Negative requests are left
    alone: a real value could repair the very field that was made invalid."""
    valid = Seed.bodies.get(str(case.operation.definition.raw.get("operationId")))
    negative = case.meta is not None and any(
        case.meta.is_negative_at(location) for location in (ParameterLocation.BODY, ParameterLocation.PATH)
    )
    if not valid or negative:
        return st.just(case)
    if case.path_parameters and "version_id" in valid[0]:
        generated, location = dict(case.path_parameters), "path_parameters"
    elif isinstance(case.body, dict):
        generated, location = case.body, "body"
    else:
        return st.just(case)

    def mixed(values: dict[str, Any]) -> schemathesis.Case[Any]:
        if location == "path_parameters":
            case.path_parameters = {**case.path_parameters, **values}
        else:
            case.body = values
        return case

    return st.sampled_from(valid).flatmap(lambda real: _mix(real, generated)).map(mixed)


# -- signing, as the SDK does (§F6) --------------------------------------------------------------


def _text(header: str | bytes) -> str:
    """A header value as sent: requests writes bytes values to the wire as they are (latin-1)."""
    return header.decode("latin-1") if isinstance(header, bytes) else header


class ClientAuth(requests.auth.AuthBase):
    """Authenticates the final request as a client would: signs it (method, path, query, headers,
    exact body bytes) with the AK/SK; every :data:`TOKEN_EVERY`-th request, once a token is known,
    carries the X-Auth-Token instead (the document's other security scheme)."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.token = ""
        self.sent = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.sent += 1
        for name in ("Authorization", "X-Auth-Token"):
            request.headers.pop(name, None)
        if self.token and self.sent % TOKEN_EVERY == 0:
            request.headers["X-Auth-Token"] = self.token
            return request
        split = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        assert isinstance(body, bytes), type(body)  # JSON bodies only; never a stream
        request.headers.setdefault("Content-Type", "application/json;charset=UTF-8")
        request.headers["Host"] = split.netloc
        request.headers["X-Project-Id"] = self.credentials.project_id
        request.headers["X-Sdk-Date"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        signed = {name: _text(request.headers[name]) for name in SIGNED_HEADERS if name in request.headers}
        request.headers["Authorization"] = sign_request(
            request.method or "GET",
            split.path,
            split.query,
            signed,
            body,
            self.credentials.ak,
            self.credentials.sk,
        )
        return request


TOKEN_EVERY = 4
CLIENT_AUTH = ClientAuth(CREDENTIALS)


# -- the checks ----------------------------------------------------------------------------------


def huawei_error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """§F2: every error answers exactly {"error": {"error_code": KMS.xxxx | APIGW.xxxx, "error_msg"}}."""
    if response.status_code < 400:
        return None
    if case.path == "/v3/auth/tokens" and response.status_code == 401:
        return None  # IAM's own error shape, declared as such in the document
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert set(error) == {"error_code", "error_msg"}, body
    assert isinstance(error["error_msg"], str), body
    assert isinstance(error["error_code"], str), body
    assert re.fullmatch(ERROR_CODE_PATTERN, error["error_code"]), body
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,  # a request the document calls invalid is refused (4xx)
    ignored_auth,  # a guarded operation that answered 2xx refuses the same request unauthenticated
    huawei_error_body,
]


@pytest.fixture(scope="module")
def session(fuzz_server: SkmsServer) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.headers["User-Agent"] = "skms-fuzz/1.0"
        yield http


@schema.parametrize()
def test_api(case: schemathesis.Case[Any], fuzz_server: SkmsServer, session: requests.Session) -> None:
    # Given a generated request, signed like the SDK signs it / When it is sent / Then it passes CHECKS
    case.call_and_validate(base_url=fuzz_server.base_url, session=session, auth=CLIENT_AUTH, checks=CHECKS)


class _Reply:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code, self.content = status, json.dumps(body).encode()


class _Case:
    path = "/v1.0/{project_id}/kms/describe-key"


@pytest.mark.parametrize(
    "body",
    [
        {"error_code": "KMS.0207", "error_msg": "The key does not exist."},
        {"error": {"error_code": "KMS.207", "error_msg": "x"}},
        {"error": {"error_code": "KMS.0207"}},
        {"error": {"error_code": "KMS.0207", "error_msg": "x", "detail": "y"}},
        {"error": {"code": 401, "message": "x", "title": "Unauthorized"}},
        {"message": "Unauthorized"},
    ],
)
def test_the_error_body_check_refuses_other_shapes(body: Any) -> None:
    with pytest.raises(AssertionError):
        huawei_error_body(None, _Reply(400, body), _Case())
    huawei_error_body(None, _Reply(400, {"error": {"error_code": "APIGW.0301", "error_msg": "x"}}), _Case())
