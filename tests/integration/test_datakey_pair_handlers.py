"""The two data-key-pair Lambda handlers on DynamoDB + AWS KMS (moto), fed the events of ``events/``.

Functions: create_rsa_datakey_pair and create_ec_datakey_pair (spec §4 ops 17-18). Each handler is
imported from its CodeUri (template.yaml) and called with its ``api.json`` (an API Gateway proxy
event after the authorizer allowed a token request) and ``direct.json`` (a direct invocation),
real key ids substituted. The private key cipher text is opened by the decrypt-data function.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from skms.crypto import keypairs, sm2
from skms.sam_template import load_template, routes_from_template

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = REPO_ROOT / "events"
TEMPLATE = REPO_ROOT / "template.yaml"
PROJECT_ID = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
PLACEHOLDER_KEY_ID = "00000000-0000-0000-0000-000000000000"
SAMPLE_AAD = "skms-sample-aad"
MESSAGE = b"signed with a data key pair"

# function -> (logical id, API Gateway resource path, the sample's key_spec and with_plain_text)
ROUTES: dict[str, tuple[str, str, str, bool]] = {
    "create_rsa_datakey_pair": (
        "CreateRsaDatakeyPairFunction",
        "/v1.0/{project_id}/kms/create-rsa-datakey-pair",
        "RSA_2048",
        True,
    ),
    "create_ec_datakey_pair": (
        "CreateEcDatakeyPairFunction",
        "/v1.0/{project_id}/kms/create-ec-datakey-pair",
        "ECC_NIST_P256",
        False,
    ),
}
FUNCTIONS = tuple(ROUTES)
PAIR_FIELDS = {"key_id", "key_spec", "public_key", "private_key_cipher_text", "private_key_plain_text"}


def alias() -> str:
    return f"kp-{uuid.uuid4().hex[:12]}"


def substitute(event: dict[str, Any], **values: Any) -> dict[str, Any]:
    """Put values into a sample event's body (a JSON string in api.json, a dict in direct.json)."""
    body = json.loads(event["body"]) if isinstance(event["body"], str) else event["body"]
    body.update(values)
    if isinstance(event["body"], str):
        event["body"] = json.dumps(body)
    return event


def ok(reply: Any) -> dict[str, Any]:
    assert reply.status == 200, reply.raw_body
    body: dict[str, Any] = reply.body
    return body


def decrypt(kms: Any, cipher_text: str, **fields: Any) -> bytes:
    body = ok(kms.call("decrypt_data", {"cipher_text": cipher_text, **fields}))
    return base64.b64decode(body["plain_text_base64"], validate=True)


def assert_pair(key_spec: str, public_der: bytes, private_der: bytes) -> None:
    """Independent code signs with the private half and verifies with the public half."""
    if key_spec == "SM2":
        private, public = keypairs.sm2_from_pkcs8(private_der)
        assert sm2.public_key_der(public) == public_der
        assert sm2.verify(public, MESSAGE, sm2.sign(private + public, MESSAGE))
        return
    private_key = serialization.load_der_private_key(private_der, password=None)
    public_key = serialization.load_der_public_key(public_der)
    if isinstance(private_key, rsa.RSAPrivateKey):
        assert isinstance(public_key, rsa.RSAPublicKey)
        signature = private_key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
        public_key.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        public_key.verify(
            private_key.sign(MESSAGE, ec.ECDSA(hashes.SHA256())), MESSAGE, ec.ECDSA(hashes.SHA256())
        )


# -- the sample events and the template ----------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_sample_events_match_the_template_route(function: str) -> None:
    logical_id, resource, key_spec, with_plain_text = ROUTES[function]
    routes = [route for route in routes_from_template(TEMPLATE) if route.function == logical_id]
    api = json.loads((EVENTS / function / "api.json").read_text(encoding="utf-8"))
    direct = json.loads((EVENTS / function / "direct.json").read_text(encoding="utf-8"))
    # The template routes one authorised POST to the function
    assert [(route.method, route.path) for route in routes] == [("POST", resource)]
    assert routes[0].authorizer is not None
    # And the API event is a REST proxy event of that route, with the direct event's body
    assert (api["resource"], api["httpMethod"]) == (resource, "POST")
    assert api["requestContext"]["resourcePath"] == resource
    assert api["path"] == resource.replace("{project_id}", PROJECT_ID)
    assert api["requestContext"]["path"] == f"/v1{api['path']}"
    assert api["multiValueHeaders"] == {name: [value] for name, value in api["headers"].items()}
    assert json.loads(api["body"]) == direct["body"]
    assert direct["project_id"] == PROJECT_ID
    # And the body is the documented sample: the placeholder key, a spec, a JSON bool, AAD
    assert direct["body"]["key_id"] == PLACEHOLDER_KEY_ID
    assert direct["body"]["key_spec"] == key_spec
    assert direct["body"]["with_plain_text"] is with_plain_text
    assert direct["body"]["additional_authenticated_data"] == SAMPLE_AAD


def test_the_functions_have_create_datakeys_rights_and_rsa_gets_cpu() -> None:
    resources = load_template(TEMPLATE)["Resources"]
    reference = resources["CreateDatakeyFunction"]["Properties"]["Policies"]
    rsa_function = resources["CreateRsaDatakeyPairFunction"]["Properties"]
    ec_function = resources["CreateEcDatakeyPairFunction"]["Properties"]
    assert rsa_function["Policies"] == ec_function["Policies"] == reference
    # RSA_4096 generation is CPU-bound: as much memory (CPU share) as create-key
    assert rsa_function["MemorySize"] == resources["CreateKeyFunction"]["Properties"]["MemorySize"]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("kind", ["api", "direct"])
def test_sample_events_as_they_are_name_no_key(kms, function: str, kind: str) -> None:
    if kind == "api":
        reply = kms.api(function, kms.api_event(function))
        assert (reply.status, reply.body["error"]["error_code"]) == (404, "KMS.0207")
    else:
        assert kms.invoke(function, kms.direct_event(function))["error"]["error_code"] == "KMS.0207"


# -- the functions ----------------------------------------------------------------------------


def test_rsa_api_event_returns_a_pair_whose_cipher_text_decrypt_data_opens(kms, caplog) -> None:
    # Given an AES_256 CMK and the sample event (RSA_2048, with_plain_text true, AAD) with its id
    key_id = kms.create_key(alias())
    event = substitute(kms.api_event("create_rsa_datakey_pair"), key_id=key_id)
    caplog.clear()

    # When the function handles it
    reply = kms.api("create_rsa_datakey_pair", event)

    # Then the four documented fields come back, as strings
    body = ok(reply)
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]
    assert set(body) == PAIR_FIELDS
    assert all(isinstance(value, str) for value in body.values())
    assert (body["key_id"], body["key_spec"]) == (key_id, "RSA_2048")
    public_der = base64.b64decode(body["public_key"], validate=True)
    private_der = base64.b64decode(body["private_key_plain_text"], validate=True)
    assert_pair("RSA_2048", public_der, private_der)
    # And the function's log records name the operation and key, never the private key
    logged = [repr(vars(record)) for record in caplog.records]
    assert any("create-rsa-datakey-pair" in line and key_id in line for line in logged)
    for secret in (body["private_key_plain_text"], body["private_key_cipher_text"], private_der.hex()):
        assert not [line for line in logged if secret[:64] in line]
    # And the decrypt-data function, given the same AAD, opens the cipher text to the private key
    assert (
        decrypt(kms, body["private_key_cipher_text"], additional_authenticated_data=SAMPLE_AAD) == private_der
    )
    reply = kms.call("decrypt_data", {"cipher_text": body["private_key_cipher_text"]})
    assert (reply.status, reply.body["error"]["error_code"]) == (400, "KMS.2201")


@pytest.mark.parametrize("key_spec", ["ECC_NIST_P256", "ECC_SECG_P256K1", "SM2"])
def test_ec_api_event_without_plain_text(kms, key_spec: str) -> None:
    # Given an SM4 CMK and the sample event (with_plain_text false)
    key_id = kms.create_key(alias(), key_spec="SM4")
    event = substitute(kms.api_event("create_ec_datakey_pair"), key_id=key_id, key_spec=key_spec)
    body = ok(kms.api("create_ec_datakey_pair", event))
    # Then no plaintext private key comes back, and the wrapped one matches the public key
    assert set(body) == PAIR_FIELDS - {"private_key_plain_text"}
    assert body["key_spec"] == key_spec
    private_der = decrypt(kms, body["private_key_cipher_text"], additional_authenticated_data=SAMPLE_AAD)
    assert_pair(key_spec, base64.b64decode(body["public_key"]), private_der)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_direct_events(kms, function: str) -> None:
    key_id = kms.create_key(alias())
    response = kms.invoke(
        function, substitute(kms.direct_event(function), key_id=key_id, with_plain_text=True)
    )
    assert set(response) == PAIR_FIELDS
    private_der = decrypt(kms, response["private_key_cipher_text"], additional_authenticated_data=SAMPLE_AAD)
    assert base64.b64decode(response["private_key_plain_text"]) == private_der


def test_a_direct_invocation_may_name_a_service_default_key(kms) -> None:
    # Like create-datakey: "<service>/default" names (and creates) the project's default key
    response = kms.direct("create_ec_datakey_pair", {"key_id": "obs/default", "key_spec": "SM2"})
    assert set(response) == PAIR_FIELDS
    assert decrypt(kms, response["private_key_cipher_text"]) == base64.b64decode(
        response["private_key_plain_text"]
    )


@pytest.mark.parametrize(
    ("function", "fields", "cmk", "status", "code"),
    [
        ("create_rsa_datakey_pair", {"key_spec": "RSA_1024"}, {}, 400, "KMS.1110"),
        ("create_ec_datakey_pair", {"key_spec": "RSA_2048"}, {}, 400, "KMS.1110"),
        ("create_ec_datakey_pair", {"with_plain_text": "false"}, {}, 400, "KMS.0308"),
        (
            "create_rsa_datakey_pair",
            {},
            {"key_spec": "RSA_2048", "key_usage": "ENCRYPT_DECRYPT"},
            400,
            "KMS.0325",
        ),
        ("create_ec_datakey_pair", {}, {"key_spec": "EC_P256"}, 400, "KMS.0325"),
        ("create_ec_datakey_pair", {}, {"key_spec": "HMAC_256"}, 400, "KMS.0341"),
    ],
    ids=["rsa-bad-spec", "ec-given-rsa", "string-bool", "rsa-cmk", "ec-cmk", "hmac-cmk"],
)
def test_errors(
    kms, function: str, fields: dict[str, Any], cmk: dict[str, str], status: int, code: str
) -> None:
    key_id = kms.create_key(alias(), **cmk)
    body = kms.sample_body(function, key_id=key_id, **fields)
    kms.expect_error(function, body, status, code)


def test_a_disabled_cmk_is_refused(kms) -> None:
    key_id = kms.create_key(alias())
    assert kms.call("disable_key", {"key_id": key_id}).status == 200
    kms.expect_error(
        "create_rsa_datakey_pair", kms.sample_body("create_rsa_datakey_pair", key_id=key_id), 400, "KMS.0209"
    )
