"""The three Lambda handlers end to end on DynamoDB + AWS KMS (moto), fed the events of ``events/``.

Each handler is imported from its CodeUri (template.yaml) as Lambda imports it and called with an
API Gateway proxy event or a direct invocation. Wire contract: spec §3 op 1, §4 ops 10 and 13,
§F2 (errors), §F3/§F4 (data-key encodings). ``kms`` (conftest) fails any call that answers 500.

The API events are the ones a function receives after the Lambda authorizer allowed an
X-Auth-Token request (their ``requestContext.authorizer``); authentication itself is test_auth.py.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import struct
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import hashes

from skms.auth.policies import StorePolicySource
from skms.config import Settings
from skms.crypto.cache import TtlLruCache
from skms.domain import KeyState
from skms.keyring import Keyring
from skms.root_keys.aws_kms import AwsKmsRootKey
from skms.runtime import Services, build_services, set_services
from skms.storage import dynamodb
from tests.support.policies import FakePolicySource

EVENTS = Path(__file__).resolve().parents[2] / "events"
PROJECT_ID = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
OTHER_PROJECT_ID = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
PLACEHOLDER_KEY_ID = "00000000-0000-0000-0000-000000000000"
FUNCTIONS = ("create_key", "create_datakey", "decrypt_datakey")
KEY_ID = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
UPPER_HEX = re.compile(r"^(?:[0-9A-F]{2})+$")
ALL_SPECS = (
    "AES_256",
    "SM4",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_P256",
    "EC_P384",
    "SECP256K1",
    "SM2",
    "ED25519",
)
SYMMETRIC_SPECS = ("AES_256", "SM4")
DEFAULT_USAGE = {spec: "ENCRYPT_DECRYPT" if spec in SYMMETRIC_SPECS else "SIGN_VERIFY" for spec in ALL_SPECS}
UNKNOWN_KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
# The domain of the token the sample api.json events were authorised with (their authorizer context).
EVENT_DOMAIN_ID = "5d8c2a4f9e1b47c3a6d0f2e8b4c1a937"


# -- helpers ----------------------------------------------------------------------------------


def substitute(event: dict[str, Any], **values: str) -> dict[str, Any]:
    """Put test-time values (key_id, cipher_text) into a sample event's body.

    An API Gateway event's body is a JSON string: decode, replace, encode again as the SDK does."""
    if isinstance(event["body"], str):
        body = json.loads(event["body"])
        body.update(values)
        event["body"] = json.dumps(body)
    else:
        event["body"].update(values)
    return event


def dek_digest(cmk_spec: str, dek: bytes) -> str:
    """§F3: SHA-256 of the DEK, SM3 for an SM4 CMK; upper-case hex."""
    digest = hashes.Hash(hashes.SM3() if cmk_spec == "SM4" else hashes.SHA256())
    digest.update(dek)
    return digest.finalize().hex().upper()


def flip_hex_digit(text: str, index: int) -> str:
    digit = text[index]
    replacement = "0" if digit != "0" else "1"
    return text[:index] + replacement + text[index + 1 :]


def assert_create_key_body(body: Any, settings: Settings, domain_id: str = EVENT_DOMAIN_ID) -> str:
    """``domain_id``: the caller's domain, from the authorizer context (the settings' for a direct
    invocation)."""
    assert isinstance(body, dict)
    assert set(body) == {"key_info"}
    info = body["key_info"]
    assert set(info) == {"key_id", "domain_id", "region_id"}
    assert all(isinstance(value, str) for value in info.values()), info
    assert KEY_ID.fullmatch(info["key_id"])
    assert info["domain_id"] == domain_id
    assert info["region_id"] == settings.region_id
    key_id: str = info["key_id"]
    return key_id


def assert_create_datakey_body(body: Any, key_id: str, dek_bytes: int) -> None:
    assert isinstance(body, dict)
    assert set(body) == {"key_id", "plain_text", "cipher_text"}
    assert all(isinstance(value, str) for value in body.values()), body
    assert body["key_id"] == key_id
    assert UPPER_HEX.fullmatch(body["plain_text"])
    assert len(body["plain_text"]) == 2 * dek_bytes
    assert UPPER_HEX.fullmatch(body["cipher_text"])


def assert_decrypt_datakey_body(body: Any, plain_text: str, cmk_spec: str) -> None:
    assert isinstance(body, dict)
    assert set(body) == {"data_key", "datakey_length", "datakey_dgst"}
    assert all(isinstance(value, str) for value in body.values()), body
    dek = bytes.fromhex(plain_text)
    assert body["data_key"] == plain_text
    assert body["datakey_length"] == str(len(dek))
    assert UPPER_HEX.fullmatch(body["datakey_dgst"])
    assert body["datakey_dgst"] == dek_digest(cmk_spec, dek)


def assert_f4_frame(cipher_text: str, key_id: str) -> None:
    """§F4: ``02 00``, little-endian L, the key id in ASCII, a SHA-256 trailer."""
    assert cipher_text.startswith("0200")
    assert key_id.encode("ascii").hex().upper() in cipher_text
    blob = bytes.fromhex(cipher_text)
    (length,) = struct.unpack_from("<H", blob, 2)
    assert 4 + length + 32 == len(blob)
    assert blob[-32 - 4 - 36 : -32 - 4] == key_id.encode("ascii")
    assert blob[-32:] == hashlib.sha256(blob[:-32]).digest()


# -- the sample events ------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_sample_api_event_has_the_shape_api_gateway_sends(function: str) -> None:
    # Given the API Gateway sample event and the direct sample event of a function
    api = json.loads((EVENTS / function / "api.json").read_text(encoding="utf-8"))
    direct = json.loads((EVENTS / function / "direct.json").read_text(encoding="utf-8"))
    operation = function.replace("_", "-")

    # Then the API event is a REST proxy event for this function's route on stage v1
    assert api["resource"] == f"/v1.0/{{project_id}}/kms/{operation}"
    assert api["path"] == f"/v1.0/{PROJECT_ID}/kms/{operation}"
    assert api["httpMethod"] == "POST"
    assert api["pathParameters"] == {"project_id": PROJECT_ID}
    assert api["queryStringParameters"] is None
    assert api["stageVariables"] is None
    assert api["isBase64Encoded"] is False
    context = api["requestContext"]
    assert context["resourcePath"] == api["resource"]
    assert context["httpMethod"] == "POST"
    assert context["path"] == f"/{context['stage']}{api['path']}"
    assert isinstance(context["requestTimeEpoch"], int)
    assert {"requestId", "identity", "accountId", "apiId", "domainName", "protocol"} <= set(context)
    assert {"sourceIp", "userAgent"} <= set(context["identity"])
    headers = api["headers"]
    assert headers["Content-Type"] == "application/json;charset=utf-8"
    assert headers["User-Agent"].startswith("huaweicloud-usdk-python/3.0")
    assert headers["X-Project-Id"] == PROJECT_ID
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["X-Sdk-Date"])
    assert headers["Host"] == context["domainName"]
    # And it was authenticated with a token (events/README.md: the placeholder token), which the
    # authorizer allowed: its context is on the request, as API Gateway passes it (flat values)
    assert "Authorization" not in headers
    assert headers["X-Auth-Token"].startswith("skms2.")
    assert headers["X-Auth-Token"].count(".") == 3  # skms2.<key>.<payload>.<mac>
    assert context["authorizer"] == {
        "principalId": "alice",
        "integrationLatency": context["authorizer"]["integrationLatency"],
        "auth_method": "token",
        "principal_id": "alice",
        "domain_id": EVENT_DOMAIN_ID,
        "project_id": PROJECT_ID,
        "user": "alice",
        "project_allowed": "true",
        "user_id": context["authorizer"]["user_id"],
    }
    assert re.fullmatch(r"[0-9a-f]{32}", context["authorizer"]["user_id"])  # alice's IAM user id
    assert isinstance(context["authorizer"]["integrationLatency"], int)
    assert re.fullmatch(r"[0-9a-f]{32}", context["authorizer"]["domain_id"])
    assert api["multiValueHeaders"] == {name: [value] for name, value in headers.items()}
    # And the body is a JSON string carrying the same body as the direct event
    assert isinstance(api["body"], str)
    assert json.loads(api["body"]) == direct["body"]
    assert direct["project_id"] == PROJECT_ID
    assert set(direct) == {"project_id", "body"}
    # And the data-key events carry the documented placeholder key id (events/README.md)
    if function != "create_key":
        assert direct["body"]["key_id"] == PLACEHOLDER_KEY_ID


def test_create_key_api_event(kms, aws_services: Services) -> None:
    # Given the create-key sample event as API Gateway sends it
    event = kms.api_event("create_key")

    # When the function handles it
    reply = kms.api("create_key", event)

    # Then it answers 200 with the wire shape, and the request id of API Gateway
    assert reply.status == 200, reply.raw_body
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]
    assert reply.headers["Content-Type"].lower().startswith("application/json")
    key_id = assert_create_key_body(reply.body, aws_services.settings)
    # And the key is stored in DynamoDB as the event asked
    record = aws_services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    assert (record.key_alias, record.key_spec, record.key_usage) == (
        "skms-sample-key",
        "AES_256",
        "ENCRYPT_DECRYPT",
    )
    assert record.key_description == "A sample CMK created from events/create_key"
    assert record.key_state is KeyState.ENABLED


def test_create_key_direct_event(kms, aws_services: Services) -> None:
    # Given the create-key sample direct invocation
    event = kms.direct_event("create_key")

    # When the function handles it
    body = kms.invoke("create_key", event)

    # Then it returns the response body itself, as a dict, the key in the configured domain
    key_id = assert_create_key_body(body, aws_services.settings, aws_services.settings.domain_id)
    assert aws_services.stores.keys.get_key(PROJECT_ID, key_id) is not None


def test_create_datakey_api_event(kms) -> None:
    # Given a key, and the create-datakey sample event with its key id substituted
    key_id = kms.create_key()
    event = substitute(kms.api_event("create_datakey"), key_id=key_id)

    # When the function handles it
    reply = kms.api("create_datakey", event)

    # Then it answers 200 with a 512-bit data key and its §F4 blob
    assert reply.status == 200, reply.raw_body
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]
    assert_create_datakey_body(reply.body, key_id, 64)
    assert_f4_frame(reply.body["cipher_text"], key_id)


def test_create_datakey_direct_event(kms) -> None:
    # Given a key, and the create-datakey sample direct invocation with its key id substituted
    key_id = kms.create_key()
    event = substitute(kms.direct_event("create_datakey"), key_id=key_id)

    # When the function handles it
    body = kms.invoke("create_datakey", event)

    # Then it returns the same body shape as a dict
    assert_create_datakey_body(body, key_id, 64)
    assert_f4_frame(body["cipher_text"], key_id)


def test_decrypt_datakey_api_event(kms) -> None:
    # Given a data key, and the decrypt-datakey sample event with key id and cipher text substituted
    key_id = kms.create_key()
    created = kms.create_datakey(key_id, datakey_length="512")
    event = substitute(kms.api_event("decrypt_datakey"), key_id=key_id, cipher_text=created["cipher_text"])

    # When the function handles it
    reply = kms.api("decrypt_datakey", event)

    # Then it answers 200 with the data key back
    assert reply.status == 200, reply.raw_body
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]
    assert_decrypt_datakey_body(reply.body, created["plain_text"], "AES_256")


def test_decrypt_datakey_direct_event(kms) -> None:
    # Given a data key, and the decrypt-datakey sample direct invocation with the values substituted
    key_id = kms.create_key()
    created = kms.create_datakey(key_id, datakey_length="512")
    event = substitute(kms.direct_event("decrypt_datakey"), key_id=key_id, cipher_text=created["cipher_text"])

    # When the function handles it
    body = kms.invoke("decrypt_datakey", event)

    # Then it returns the same body shape as a dict
    assert_decrypt_datakey_body(body, created["plain_text"], "AES_256")


@pytest.mark.parametrize("function", ["create_datakey", "decrypt_datakey"])
def test_unsubstituted_placeholder_events_name_a_missing_key(kms, function: str) -> None:
    # Given a sample event whose placeholder key id was not substituted (events/README.md)
    event = kms.api_event(function)

    # When the function handles it
    reply = kms.api(function, event)

    # Then the placeholder is well-formed, and names no key: 404 KMS.0207
    assert (reply.status, reply.body["error"]["error_code"]) == (404, "KMS.0207")
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]


def test_api_event_without_request_id_still_gets_one(kms) -> None:
    # Given an API event without a usable request id
    event = kms.api_event("create_key")
    event["requestContext"]["requestId"] = ""

    # When the function handles it
    reply = kms.api("create_key", event)

    # Then the reply still carries a request id
    assert reply.status == 200
    assert reply.headers["X-Request-Id"]


def test_base64_encoded_api_body(kms, aws_services: Services) -> None:
    # Given an API event whose body API Gateway passed base64-encoded
    event = kms.api_event("create_key")
    event["body"] = base64.b64encode(event["body"].encode("utf-8")).decode("ascii")
    event["isBase64Encoded"] = True

    # When the function handles it; Then it is decoded like a plain body
    reply = kms.api("create_key", event)
    assert reply.status == 200, reply.raw_body
    assert_create_key_body(reply.body, aws_services.settings)


def test_invalid_base64_api_body(kms) -> None:
    event = kms.api_event("create_key", raw_body="not base64!")
    event["isBase64Encoded"] = True
    reply = kms.api("create_key", event)
    assert (reply.status, reply.body["error"]["error_code"]) == (400, "KMS.0202")


def test_too_long_api_body(kms) -> None:
    # Given a body of more than 64 KiB; When handled; Then KMS.0203, message too long
    body = kms.sample_body("create_key", key_description="d" * (65 * 1024))
    reply = kms.call("create_key", body)
    assert (reply.status, reply.body["error"]["error_code"]) == (400, "KMS.0203")


def test_domain_id_comes_from_the_authorizer(kms, aws_services: Services) -> None:
    # Given an API event whose authorizer established the caller's domain (not the configured one),
    # its user allowed everything there
    event = kms.api_event("create_key")
    event["requestContext"]["authorizer"]["domain_id"] = "d" * 32
    assert aws_services.settings.domain_id != "d" * 32
    policies = FakePolicySource()
    policies.attach("d" * 32, event["requestContext"]["authorizer"]["user_id"], "KMS Administrator")
    set_services(dataclasses.replace(aws_services, policies=policies))

    # When the function handles it; Then the key belongs to that domain
    reply = kms.api("create_key", event)
    assert reply.status == 200, reply.raw_body
    assert reply.body["key_info"]["domain_id"] == "d" * 32


# -- create-key: every key spec ------------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_create_key_every_spec(kms, aws_services: Services, spec: str) -> None:
    # Given a create-key request for a key spec
    body = kms.sample_body("create_key", key_alias=f"spec-{spec.lower()}", key_spec=spec, key_usage=None)

    # When it goes through API Gateway
    reply = kms.call("create_key", body)

    # Then the key is created with the default usage of its spec, material wrapped by AWS KMS
    assert reply.status == 200, reply.raw_body
    key_id = assert_create_key_body(reply.body, aws_services.settings)
    record = aws_services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    assert (record.key_spec, record.key_usage, record.key_state) == (
        spec,
        DEFAULT_USAGE[spec],
        KeyState.ENABLED,
    )
    assert list(record.materials) == [record.current_version]
    assert record.materials[record.current_version][0] == 0x02  # PROVIDER_AWS_KMS
    if spec in SYMMETRIC_SPECS:
        assert record.public_key_pem is None
    else:
        assert record.public_key_pem is not None
        assert record.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")


@pytest.mark.parametrize(
    ("spec", "usage"),
    [("RSA_2048", "ENCRYPT_DECRYPT"), ("SM2", "ENCRYPT_DECRYPT"), ("EC_P384", "SIGN_VERIFY")],
)
def test_create_key_with_an_allowed_usage(kms, aws_services: Services, spec: str, usage: str) -> None:
    # Given an explicit usage that the spec allows; When the key is created
    key_id = kms.create_key(key_spec=spec, key_usage=usage)

    # Then it has that usage
    record = aws_services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    assert record.key_usage == usage


# -- data keys: round trips --------------------------------------------------------------------


DATAKEY_REQUESTS = [
    pytest.param({"datakey_length": "512"}, 64, id="datakey_length-512"),
    pytest.param({}, 32, id="default-256-bits"),
    pytest.param({"key_spec": "AES_128"}, 16, id="key_spec-AES_128"),
    pytest.param({"key_spec": "AES_256"}, 32, id="key_spec-AES_256"),
    pytest.param({"key_spec": "AES_128", "datakey_length": "64"}, 8, id="datakey_length-wins"),
    pytest.param({"datakey_length": "8"}, 1, id="minimum-8-bits"),
    pytest.param({"datakey_length": "8192"}, 1024, id="maximum-8192-bits"),
]


@pytest.mark.parametrize("cmk_spec", SYMMETRIC_SPECS)
@pytest.mark.parametrize(("request_fields", "dek_bytes"), DATAKEY_REQUESTS)
def test_datakey_round_trip(kms, cmk_spec: str, request_fields: dict[str, str], dek_bytes: int) -> None:
    # Given a symmetric CMK
    key_id = kms.create_key(key_spec=cmk_spec)

    # When a data key is created
    created = kms.create_datakey(key_id, **request_fields)

    # Then it has the requested size, in upper-case hex, sealed in a §F4 blob naming the key
    assert_create_datakey_body(created, key_id, dek_bytes)
    assert_f4_frame(created["cipher_text"], key_id)
    if dek_bytes >= 8:  # shorter hex strings may occur in any blob by chance
        assert created["plain_text"] not in created["cipher_text"]

    # And when the blob is decrypted, the same data key comes back with its digest (§F3)
    decrypted = kms.decrypt_datakey(key_id, created["cipher_text"], dek_bytes)
    assert_decrypt_datakey_body(decrypted, created["plain_text"], cmk_spec)


def test_sm4_digest_is_sm3_not_sha256(kms) -> None:
    # Given a data key of an SM4 CMK
    key_id = kms.create_key(key_spec="SM4")
    created = kms.create_datakey(key_id)
    dek = bytes.fromhex(created["plain_text"])

    # When it is decrypted
    decrypted = kms.decrypt_datakey(key_id, created["cipher_text"], len(dek))

    # Then the digest is SM3(DEK), which is not SHA-256(DEK)
    assert decrypted["datakey_dgst"] == dek_digest("SM4", dek)
    assert decrypted["datakey_dgst"] != hashlib.sha256(dek).hexdigest().upper()


def test_every_datakey_is_fresh(kms) -> None:
    # Given a CMK; When two data keys are created
    key_id = kms.create_key()
    first, second = kms.create_datakey(key_id), kms.create_datakey(key_id)

    # Then they differ, and so do their blobs
    assert first["plain_text"] != second["plain_text"]
    assert first["cipher_text"] != second["cipher_text"]


def test_lower_case_cipher_text_decrypts(kms) -> None:
    # Given a data key blob written in lower-case hex (the request regex allows either case)
    key_id = kms.create_key()
    created = kms.create_datakey(key_id)

    # When it is decrypted; Then the data key comes back
    decrypted = kms.decrypt_datakey(key_id, created["cipher_text"].lower(), 32)
    assert decrypted["data_key"] == created["plain_text"]


BINDINGS = {
    "encryption_context": {"Key1": "Value1", "Key2": "Value2"},
    "additional_authenticated_data": "order-42",
}


@pytest.mark.parametrize(
    "decrypt_fields",
    [
        pytest.param({"additional_authenticated_data": "order-42"}, id="context-missing"),
        pytest.param({"encryption_context": BINDINGS["encryption_context"]}, id="aad-missing"),
        pytest.param({**BINDINGS, "encryption_context": {"Key1": "Value1"}}, id="context-key-dropped"),
        pytest.param(
            {**BINDINGS, "encryption_context": {"Key1": "Value1", "Key2": "value2"}},
            id="context-value-changed",
        ),
        pytest.param({**BINDINGS, "additional_authenticated_data": "order-43"}, id="aad-changed"),
        pytest.param({}, id="both-missing"),
    ],
)
def test_decrypt_with_other_context_or_aad_fails(kms, decrypt_fields: dict[str, Any]) -> None:
    # Given a data key bound to an encryption context and AAD
    key_id = kms.create_key()
    created = kms.create_datakey(key_id, **BINDINGS)
    body = {"key_id": key_id, "cipher_text": created["cipher_text"], "datakey_cipher_length": "32"}

    # When it is decrypted with the exact same context and AAD, Then it opens
    assert (
        kms.decrypt_datakey(key_id, created["cipher_text"], 32, **BINDINGS)["data_key"]
        == created["plain_text"]
    )
    # But when anything of the binding differs, Then it is an invalid cipher text
    kms.expect_error("decrypt_datakey", {**body, **decrypt_fields}, 400, "KMS.2201")


def test_context_key_order_does_not_matter(kms) -> None:
    # Given a data key bound to an encryption context
    key_id = kms.create_key()
    created = kms.create_datakey(key_id, encryption_context={"a": "1", "b": "2"})

    # When it is decrypted with the same pairs in another order; Then it opens
    decrypted = kms.decrypt_datakey(
        key_id, created["cipher_text"], 32, encryption_context={"b": "2", "a": "1"}
    )
    assert decrypted["data_key"] == created["plain_text"]


def test_cold_function_unwraps_material_through_aws_kms(kms, aws_settings: Settings) -> None:
    # Given a key and a data key made by a warm function (its material cache filled at create time)
    key_id = kms.create_key(key_spec="SM4")
    created = kms.create_datakey(key_id)

    # When another, cold, function (fresh services, empty cache) handles the next requests
    set_services(build_services(aws_settings))
    decrypted = kms.decrypt_datakey(key_id, created["cipher_text"], 32)
    again = kms.create_datakey(key_id, datakey_length="128")

    # Then it unwraps the CMK material through AWS KMS and gets the same key
    assert decrypted["data_key"] == created["plain_text"]
    assert kms.decrypt_datakey(key_id, again["cipher_text"], 16)["data_key"] == again["plain_text"]


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_body", "code"),
    [
        pytest.param("{not json", "KMS.0202", id="not-json"),
        pytest.param('[{"key_alias": "a"}]', "KMS.0202", id="json-array"),
        pytest.param('"key_alias"', "KMS.0202", id="json-string"),
        pytest.param("null", "KMS.0202", id="json-null"),
        pytest.param("{}", "KMS.0204", id="empty-object"),
        pytest.param("", "KMS.0204", id="no-body"),
    ],
)
def test_create_key_rejects_a_body_that_is_not_a_json_object(kms, raw_body: str, code: str) -> None:
    # Given an API event whose body is not a JSON object with key_alias
    event = kms.api_event("create_key", raw_body=raw_body)

    # When the function handles it
    reply = kms.api("create_key", event)

    # Then it is a 400 with the §F2 code
    assert (reply.status, reply.body["error"]["error_code"]) == (400, code), reply.raw_body
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        pytest.param({"key_alias": None}, "KMS.0204", id="missing-alias"),
        pytest.param({"key_alias": "bad alias!"}, "KMS.1101", id="alias-regex"),
        pytest.param({"key_alias": ""}, "KMS.1101", id="alias-empty"),
        pytest.param({"key_alias": "a" * 256}, "KMS.1101", id="alias-256-chars"),
        pytest.param({"key_alias": "别名"}, "KMS.1101", id="alias-non-ascii"),
        pytest.param({"key_alias": "team/default"}, "KMS.1101", id="alias-default-suffix"),
        pytest.param({"key_alias": 123}, "KMS.1101", id="alias-number"),
        pytest.param({"key_description": "d" * 256}, "KMS.1103", id="description-256-chars"),
        pytest.param({"key_description": 5}, "KMS.1103", id="description-number"),
        pytest.param({"key_spec": "AES_512"}, "KMS.1110", id="bad-spec"),
        pytest.param({"key_spec": "aes_256"}, "KMS.1110", id="spec-lower-case"),
        pytest.param({"key_spec": "EC_P256", "key_usage": "ENCRYPT_DECRYPT"}, "KMS.1110", id="ec-encrypt"),
        pytest.param({"key_spec": "AES_256", "key_usage": "SIGN_VERIFY"}, "KMS.1110", id="aes-sign"),
        pytest.param({"key_usage": "WRAP_UNWRAP"}, "KMS.1110", id="bad-usage"),
        pytest.param({"key_spec": "SM2", "origin": "external"}, "KMS.1110", id="external-sm2"),
        pytest.param({"origin": "cloud"}, "KMS.0308", id="bad-origin"),
        pytest.param({"sequence": "s" * 37}, "KMS.0206", id="sequence-37-bytes"),
    ],
)
def test_create_key_rejects_invalid_fields(kms, changes: dict[str, Any], code: str) -> None:
    # Given the sample create-key body with one field wrong; When it is sent; Then the §F2 code
    kms.expect_error("create_key", kms.sample_body("create_key", **changes), 400, code)


def test_create_key_accepts_boundary_values(kms, aws_services: Services) -> None:
    # Given an alias of 255 characters of every allowed class and a description of 255 characters
    alias = ("Az09:/_-" * 32)[:255]
    key_id = kms.create_key(alias, key_description="d" * 255, sequence="s" * 36)

    # Then the key is created with them
    record = aws_services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    assert (record.key_alias, record.key_description) == (alias, "d" * 255)


def test_create_key_rejects_a_duplicate_alias(kms, aws_services: Services) -> None:
    # Given a key with an alias
    kms.create_key("team/orders")

    # When another key is created with the same alias, Then KMS.1104
    kms.expect_error("create_key", {"key_alias": "team/orders"}, 400, "KMS.1104")
    # But the same alias in another project is fine
    reply = kms.call("create_key", {"key_alias": "team/orders"}, project_id=OTHER_PROJECT_ID)
    assert reply.status == 200, reply.raw_body
    assert aws_services.stores.keys.count_keys(PROJECT_ID) == 1


def test_origin_external_creates_a_pending_import_key_without_datakeys(kms, aws_services: Services) -> None:
    # Given a key created with origin external
    key_id = kms.create_key(origin="external")

    # Then it is in state "5" (pending import) and has no material
    record = aws_services.stores.keys.get_key(PROJECT_ID, key_id)
    assert record is not None
    assert record.key_state.value == "5"
    assert record.materials == {}
    # And creating a data key with it is KMS.1301 (key not enabled)
    kms.expect_error("create_datakey", {"key_id": key_id}, 400, "KMS.1301")


@pytest.mark.parametrize("project_id", ["{project_id}", "", "a/b", "p" * 65, "proj id"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_invalid_project_id_in_the_path(kms, function: str, project_id: str) -> None:
    # Given an API event whose path parameter is not a project id (e.g. an unsubstituted template)
    event = kms.api_event(function)
    event["pathParameters"] = {"project_id": project_id}

    # When the function handles it; Then KMS.0201, invalid request URL
    reply = kms.api(function, event)
    assert (reply.status, reply.body["error"]["error_code"]) == (400, "KMS.0201")


def test_missing_path_parameters(kms) -> None:
    # Given an API event with no path parameters at all; When handled; Then KMS.0201
    event = kms.api_event("create_key")
    event["pathParameters"] = None
    reply = kms.api("create_key", event)
    assert (reply.status, reply.body["error"]["error_code"]) == (400, "KMS.0201")


def test_direct_invocation_errors_are_error_bodies(kms) -> None:
    # Given direct invocations with a bad project id, a missing field and a body that is not an object
    bad_project = kms.invoke("create_key", {"project_id": "{project_id}", "body": {"key_alias": "x"}})
    missing = kms.direct("create_key", {})
    not_object = kms.direct("create_key", ["key_alias"])

    # Then each is the §F2 error body, as a dict
    assert bad_project["error"]["error_code"] == "KMS.0201"
    assert set(bad_project) == {"error"}
    assert set(bad_project["error"]) == {"error_code", "error_msg"}
    assert missing["error"]["error_code"] == "KMS.0204"
    assert not_object["error"]["error_code"] == "KMS.0202"


def test_a_direct_invocation_body_may_be_a_json_string(kms) -> None:
    # Given a direct invocation whose body is a JSON string rather than an object
    body = kms.invoke("create_key", kms.direct_event("create_key", json.dumps({"key_alias": "from-string"})))

    # Then it is handled like the object
    assert KEY_ID.fullmatch(body["key_info"]["key_id"])


@pytest.mark.parametrize("function", ["create_datakey", "decrypt_datakey"])
@pytest.mark.parametrize(
    "key_id",
    ["not-a-key", UNKNOWN_KEY_ID.upper(), UNKNOWN_KEY_ID + "0", "alias", "alias/orders db", 42],
    ids=["words", "upper-case", "too-long", "alias-without-prefix", "alias-bad-characters", "number"],
)
def test_malformed_key_id(kms, function: str, key_id: Any) -> None:
    # Given a sample body with a key id that is neither a key id nor an alias; When sent; Then KMS.0205
    body = kms.sample_body(function, key_id=key_id)
    kms.expect_error(function, body, 400, "KMS.0205")


@pytest.mark.parametrize("function", ["create_datakey", "decrypt_datakey"])
def test_an_unknown_alias_is_not_found_where_aliases_name_keys(kms, function: str) -> None:
    # Crypto operations take an alias for the key (README, Aliases): one that does not exist is KMS.0207
    kms.expect_error(function, kms.sample_body(function, key_id="alias/orders"), 404, "KMS.0207")


def test_an_alias_is_a_malformed_key_id_elsewhere(kms) -> None:
    kms.expect_error("describe_key", {"key_id": "alias/orders"}, 400, "KMS.0205")


@pytest.mark.parametrize("function", ["create_datakey", "decrypt_datakey"])
def test_missing_key_id(kms, function: str) -> None:
    kms.expect_error(function, kms.sample_body(function, key_id=None), 400, "KMS.0204")


def test_create_datakey_unknown_key(kms) -> None:
    # Given a well-formed key id that names no key; When a data key is asked for; Then 404 KMS.0207
    kms.expect_error("create_datakey", {"key_id": UNKNOWN_KEY_ID}, 404, "KMS.0207")


@pytest.mark.parametrize(
    ("spec", "usage"), [("RSA_2048", "ENCRYPT_DECRYPT"), ("EC_P256", None), ("SM2", None)]
)
def test_create_datakey_on_an_asymmetric_key(kms, spec: str, usage: str | None) -> None:
    # Given an asymmetric key; When a data key is asked for; Then KMS.0325
    fields = {"key_spec": spec} | ({"key_usage": usage} if usage else {})
    key_id = kms.create_key(**fields)
    kms.expect_error("create_datakey", {"key_id": key_id, "datakey_length": "512"}, 400, "KMS.0325")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        pytest.param({"datakey_length": "12"}, "KMS.1903", id="length-not-multiple-of-8"),
        pytest.param({"datakey_length": "16384"}, "KMS.1901", id="length-too-big"),
        pytest.param({"datakey_length": "8200"}, "KMS.1901", id="length-just-too-big"),
        pytest.param({"datakey_length": "0"}, "KMS.1901", id="length-zero"),
        pytest.param({"datakey_length": "-8"}, "KMS.1901", id="length-negative"),
        pytest.param({"datakey_length": "abc"}, "KMS.1901", id="length-not-a-number"),
        pytest.param({"datakey_length": "123456789"}, "KMS.1901", id="length-nine-digits"),
        pytest.param({"key_spec": "AES_512"}, "KMS.1902", id="spec-AES_512"),
        pytest.param({"key_spec": 256}, "KMS.1902", id="spec-number"),
        pytest.param({"encryption_context": "Key1=Value1"}, "KMS.0208", id="context-string"),
        pytest.param({"encryption_context": {"n": 1}}, "KMS.0208", id="context-number-value"),
        pytest.param({"encryption_context": {"k": "v" * 8200}}, "KMS.0208", id="context-too-long"),
        pytest.param({"additional_authenticated_data": "a" * 129}, "KMS.0308", id="aad-129-bytes"),
        pytest.param({"sequence": "s" * 37}, "KMS.0206", id="sequence-37-bytes"),
    ],
)
def test_create_datakey_rejects_invalid_fields(kms, fields: dict[str, Any], code: str) -> None:
    # Given an existing key and a request with one bad field; When sent; Then the §F2 code
    key_id = kms.create_key()
    kms.expect_error("create_datakey", {"key_id": key_id, **fields}, 400, code)


@pytest.mark.parametrize(
    ("function", "field", "value"),
    [
        ("create_datakey", "datakey_length", 512),
        ("create_datakey", "datakey_length", True),
        ("create_datakey", "datakey_length", ["512"]),
        ("create_datakey", "additional_authenticated_data", 42),
        ("create_datakey", "sequence", 7),
        ("decrypt_datakey", "datakey_cipher_length", 64),
        ("decrypt_datakey", "cipher_text", 1234),
        ("decrypt_datakey", "additional_authenticated_data", {"a": "b"}),
        ("create_key", "key_spec", ["AES_256"]),
        ("create_key", "origin", 1),
    ],
)
def test_a_wrongly_typed_field_is_a_client_error(kms, function: str, field: str, value: Any) -> None:
    # Given a valid request except one field sent with the wrong JSON type
    if function == "create_key":
        body = kms.sample_body("create_key")
    else:
        key_id = kms.create_key()
        body = {"key_id": key_id}
        if function == "decrypt_datakey":
            body.update(cipher_text=kms.create_datakey(key_id)["cipher_text"], datakey_cipher_length="32")
    body[field] = value

    # When it is sent
    reply = kms.call(function, body)

    # Then it is a 400 with a KMS code, never a 500
    assert reply.status == 400, reply.raw_body
    assert reply.body["error"]["error_code"] != "KMS.0101"


@pytest.fixture
def datakey(kms) -> dict[str, Any]:
    """An AES_256 key and a 64-byte data key of it, in the current project."""
    key_id = kms.create_key()
    created = kms.create_datakey(key_id, datakey_length="512")
    return {"key_id": key_id, "cipher_text": created["cipher_text"], "plain_text": created["plain_text"]}


def decrypt_body(datakey: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {"key_id": datakey["key_id"], "cipher_text": datakey["cipher_text"], "datakey_cipher_length": "64"}
    body.update(changes)
    return body


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(lambda n: 1, id="frame-marker"),
        pytest.param(lambda n: 5, id="length-field"),
        pytest.param(lambda n: 9, id="body-header"),
        pytest.param(lambda n: 20, id="nonce"),
        pytest.param(lambda n: 44, id="ciphertext-start"),
        pytest.param(lambda n: n // 2, id="ciphertext"),
        pytest.param(lambda n: n - 2 * (32 + 4 + 36) - 1, id="tag"),
        pytest.param(lambda n: n - 2 * (32 + 4 + 36) + 3, id="key-id"),
        pytest.param(lambda n: n - 2 * (32 + 4) + 1, id="key-version"),
        pytest.param(lambda n: n - 1, id="trailer"),
    ],
)
def test_tampered_cipher_text(kms, datakey: dict[str, Any], where: Any) -> None:
    # Given a data-key blob with one hex digit flipped
    cipher_text = datakey["cipher_text"]
    tampered = flip_hex_digit(cipher_text, where(len(cipher_text)))
    assert tampered != cipher_text

    # When it is decrypted; Then KMS.2201
    kms.expect_error("decrypt_datakey", decrypt_body(datakey, cipher_text=tampered), 400, "KMS.2201")


@pytest.mark.parametrize("offset", [4 + 3, 4 + 3 + 12, 4 + 3 + 12 + 64])
def test_tampered_cipher_text_with_a_valid_checksum(kms, datakey: dict[str, Any], offset: int) -> None:
    # Given a blob altered in its nonce, ciphertext or tag, with the SHA-256 trailer recomputed
    blob = bytearray(bytes.fromhex(datakey["cipher_text"]))
    blob[offset] ^= 0x01
    framed = bytes(blob[:-32])
    forged = (framed + hashlib.sha256(framed).digest()).hex().upper()

    # When it is decrypted; Then the AEAD rejects it: KMS.2201
    kms.expect_error("decrypt_datakey", decrypt_body(datakey, cipher_text=forged), 400, "KMS.2201")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        pytest.param({"datakey_cipher_length": "32"}, "KMS.2204", id="length-smaller"),
        pytest.param({"datakey_cipher_length": "65"}, "KMS.2204", id="length-larger"),
        pytest.param({"datakey_cipher_length": "0"}, "KMS.2202", id="length-zero"),
        pytest.param({"datakey_cipher_length": "1025"}, "KMS.2202", id="length-over-1024"),
        pytest.param({"datakey_cipher_length": "64 bytes"}, "KMS.2202", id="length-not-a-number"),
        pytest.param({"datakey_cipher_length": None}, "KMS.0204", id="length-missing"),
        pytest.param({"cipher_text": None}, "KMS.0204", id="cipher-missing"),
        pytest.param({"cipher_text": "ZZ"}, "KMS.2201", id="cipher-not-hex"),
        pytest.param({"cipher_text": "ABC"}, "KMS.2201", id="cipher-odd-length"),
        pytest.param({"cipher_text": "0200"}, "KMS.2201", id="cipher-too-short"),
        pytest.param({"cipher_text": "AB" * 5000}, "KMS.2201", id="cipher-too-long"),
    ],
)
def test_decrypt_datakey_rejects_invalid_fields(
    kms, datakey: dict[str, Any], changes: dict[str, Any], code: str
) -> None:
    body = {k: v for k, v in decrypt_body(datakey, **changes).items() if v is not None}
    kms.expect_error("decrypt_datakey", body, 400, code)


def test_truncated_or_extended_cipher_text(kms, datakey: dict[str, Any]) -> None:
    # Given the blob shortened by one byte, and lengthened by one byte; Then both are KMS.2201
    cipher_text = datakey["cipher_text"]
    kms.expect_error("decrypt_datakey", decrypt_body(datakey, cipher_text=cipher_text[:-2]), 400, "KMS.2201")
    kms.expect_error(
        "decrypt_datakey", decrypt_body(datakey, cipher_text=cipher_text + "00"), 400, "KMS.2201"
    )


def test_cipher_text_of_one_key_presented_with_another(kms, datakey: dict[str, Any]) -> None:
    # Given a second key of the same project
    other_key = kms.create_key()

    # When the first key's blob is presented with the second key id; Then KMS.2201
    kms.expect_error("decrypt_datakey", decrypt_body(datakey, key_id=other_key), 400, "KMS.2201")


def test_decrypt_with_an_unknown_key(kms) -> None:
    # Given a blob whose embedded key id names no key (the unsubstituted sample blob)
    sample = kms.sample_body("decrypt_datakey")

    # When decrypted; Then 404 KMS.0207
    kms.expect_error("decrypt_datakey", sample, 404, "KMS.0207")


def test_keys_of_another_project_are_invisible(kms, datakey: dict[str, Any]) -> None:
    # Given a key and data key of project A; When project B uses them; Then 404 KMS.0207
    kms.expect_error(
        "create_datakey", {"key_id": datakey["key_id"]}, 404, "KMS.0207", project_id=OTHER_PROJECT_ID
    )
    kms.expect_error("decrypt_datakey", decrypt_body(datakey), 404, "KMS.0207", project_id=OTHER_PROJECT_ID)
    # And project A still can
    assert (
        kms.decrypt_datakey(datakey["key_id"], datakey["cipher_text"], 64)["data_key"]
        == datakey["plain_text"]
    )


# -- storage: nothing in clear -------------------------------------------------------------------


def _leaves(value: Any) -> list[bytes]:
    """Every leaf of a DynamoDB attribute value as bytes: S and N as UTF-8, B as the raw bytes."""
    if isinstance(value, dict):
        if set(value) == {"B"}:
            return [bytes(value["B"])]
        return [leaf for name, item in sorted(value.items()) for leaf in [name.encode(), *_leaves(item)]]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [str(value).encode("utf-8")]


def _forms(material: bytes) -> list[bytes]:
    """The raw bytes, hex (both cases) and base64 (standard, URL-safe, padded or not)."""
    forms = [material, material.hex().encode(), material.hex().upper().encode()]
    for encoded in (base64.b64encode(material), base64.urlsafe_b64encode(material)):
        forms += [encoded, encoded.rstrip(b"=")]
    return forms


def test_dynamodb_never_holds_key_material_in_clear(kms, aws_services: Services) -> None:
    # Given keys of every spec, created through the handler
    key_ids = [kms.create_key(f"clear-{spec.lower()}", key_spec=spec) for spec in ALL_SPECS]

    # When the table is read back raw, and each key's material is unwrapped through AWS KMS
    dynamodb = boto3.client("dynamodb")
    table = aws_services.settings.table_name
    assert table is not None
    items = [
        item for page in dynamodb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]
    ]
    haystacks = [b"\x00".join(_leaves(item)) for item in items]
    materials = {}
    for key_id in key_ids:
        record = aws_services.stores.keys.get_key(PROJECT_ID, key_id)
        assert record is not None
        aws_services.keyring.forget(record)  # unwrap for real, not from the cache
        materials[key_id] = (record, aws_services.keyring.material(record, record.current_version))

    # Then every key has its item, whose attributes carry the *wrapped* material (the scan sees Binary)
    key_items = [item for item in items if item["SK"]["S"].startswith("K#")]
    assert len(key_items) == len(ALL_SPECS)
    for record, material in materials.values():
        wrapped = record.materials[record.current_version]
        assert any(wrapped in haystack for haystack in haystacks)
        assert len(material) >= 16
        # And no attribute of any item holds the material raw, in hex or in base64
        for form in _forms(material):
            assert not any(form in haystack for haystack in haystacks), (record.key_spec, form[:8])


# -- the warm cache --------------------------------------------------------------------------


class CountingRootKey:
    """A spy around the real root-key provider."""

    def __init__(self, inner: AwsKmsRootKey) -> None:
        self.inner = inner
        self.wraps = 0
        self.unwraps = 0

    def wrap(self, plaintext: bytes, context: Any) -> bytes:
        self.wraps += 1
        return self.inner.wrap(plaintext, context)

    def unwrap(self, wrapped: bytes, context: Any) -> bytes:
        self.unwraps += 1
        return self.inner.unwrap(wrapped, context)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_warm_function_unwraps_each_key_once_per_ttl(kms, aws_settings: Settings) -> None:
    # Given a key, and a cold function whose root key is spied on and whose cache clock is fake
    key_id = kms.create_key()
    clock = FakeClock()
    spy = CountingRootKey(AwsKmsRootKey(aws_settings.root_key_id or ""))
    cache: TtlLruCache[bytes] = TtlLruCache(16, 300.0, clock=clock)
    stores = dynamodb.open_stores(aws_settings.table_name or "")
    policies = StorePolicySource(stores.principals, aws_settings.access_key_cache_seconds)
    set_services(Services(aws_settings, stores, Keyring(spy, cache), policies=policies))

    # When it creates a data key five times
    created = [kms.create_datakey(key_id) for _ in range(5)]

    # Then only the first call unwrapped the CMK material, and none wrapped anything
    assert (spy.unwraps, spy.wraps) == (1, 0)
    # And decrypting with the same key is served from the cache too
    assert kms.decrypt_datakey(key_id, created[0]["cipher_text"], 32)["data_key"] == created[0]["plain_text"]
    clock.now += 299.0
    kms.create_datakey(key_id)
    assert spy.unwraps == 1

    # When the cache TTL has elapsed, Then the next call unwraps again, once
    clock.now += 2.0
    kms.create_datakey(key_id)
    assert spy.unwraps == 2
    kms.decrypt_datakey(key_id, created[4]["cipher_text"], 32)
    assert spy.unwraps == 2
