"""The ten data / misc Lambda handlers on DynamoDB + AWS KMS (moto), fed the events of ``events/``.

Functions: create_datakey_without_plaintext, encrypt_datakey, encrypt_data, decrypt_data,
re_encrypt, create_random (spec §4 ops 11, 12, 14, 15, 16, §15 op 68; encodings §F3-§F5), and
show_user_quotas, show_user_instances, show_versions, show_version (§15 ops 69-72). Each handler
is imported from its CodeUri (template.yaml) and called with its ``api.json`` (an API Gateway proxy
event after the authorizer allowed a token request) and ``direct.json`` (a direct invocation),
real key ids and ciphertexts substituted. ``kms`` (conftest) fails any call that answers 500.

The two version documents are public routes (``Authorizer: NONE``): their events carry no
authorizer context and no credentials, and the functions answer them as they are.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes

from skms.clock import now_ms
from skms.runtime import Services
from skms.sam_template import routes_from_template

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = REPO_ROOT / "events"
TEMPLATE = REPO_ROOT / "template.yaml"
PROJECT_ID = "0b1e5c9e8f9a4d2c9d3e4f5a6b7c8d9e"
OTHER_PROJECT_ID = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
PLACEHOLDER_KEY_ID = "00000000-0000-0000-0000-000000000000"
UNKNOWN_KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
EVENT_DOMAIN_ID = "5d8c2a4f9e1b47c3a6d0f2e8b4c1a937"
KEY_ID_RE = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
UPPER_HEX_RE = re.compile(r"^(?:[0-9A-F]{2})+$")
DATA_CIPHER_RE = re.compile(r"^[0-9a-zA-Z+/=]{128,5648}$")  # §4 op 15
UNICODE_TEXT = "héllo, κλειδί, 密钥管理 🔐 — ünïcødé"

# function -> (logical id, method, API Gateway resource path, authenticated)
ROUTES: dict[str, tuple[str, str, str, bool]] = {
    "create_datakey_without_plaintext": (
        "CreateDatakeyWithoutPlaintextFunction",
        "POST",
        "/v1.0/{project_id}/kms/create-datakey-without-plaintext",
        True,
    ),
    "encrypt_datakey": ("EncryptDatakeyFunction", "POST", "/v1.0/{project_id}/kms/encrypt-datakey", True),
    "encrypt_data": ("EncryptDataFunction", "POST", "/v1.0/{project_id}/kms/encrypt-data", True),
    "decrypt_data": ("DecryptDataFunction", "POST", "/v1.0/{project_id}/kms/decrypt-data", True),
    "re_encrypt": ("ReEncryptFunction", "POST", "/v1.0/{project_id}/kms/re-encrypt", True),
    "create_random": ("CreateRandomFunction", "POST", "/v1.0/{project_id}/kms/gen-random", True),
    "show_user_quotas": ("ShowUserQuotasFunction", "GET", "/v1.0/{project_id}/kms/user-quotas", True),
    "show_user_instances": (
        "ShowUserInstancesFunction",
        "GET",
        "/v1.0/{project_id}/kms/user-instances",
        True,
    ),
    "show_versions": ("ShowVersionsFunction", "GET", "/", False),
    "show_version": ("ShowVersionFunction", "GET", "/{version_id}", False),
}
FUNCTIONS = tuple(ROUTES)
AUTHENTICATED = tuple(f for f, route in ROUTES.items() if route[3])
PUBLIC = tuple(f for f, route in ROUTES.items() if not route[3])
KEY_FUNCTIONS = ("create_datakey_without_plaintext", "encrypt_datakey", "encrypt_data")


# -- helpers ----------------------------------------------------------------------------------


def alias(prefix: str = "dt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def substitute(event: dict[str, Any], **values: Any) -> dict[str, Any]:
    """Put test-time values into a sample event's body (a JSON string in api.json, a dict in
    direct.json); a value of None removes the field."""
    body = json.loads(event["body"]) if isinstance(event["body"], str) else event["body"]
    for name, value in values.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    if isinstance(event["body"], str):
        event["body"] = json.dumps(body)
    return event


def ok(reply: Any) -> dict[str, Any]:
    assert reply.status == 200, reply.raw_body
    assert reply.headers["Content-Type"].lower().startswith("application/json")
    body: dict[str, Any] = reply.body
    return body


def digest(cmk_spec: str, dek: bytes) -> bytes:
    """§F3: SHA-256 of the DEK, SM3 for an SM4 CMK."""
    hasher = hashes.Hash(hashes.SM3() if cmk_spec == "SM4" else hashes.SHA256())
    hasher.update(dek)
    return hasher.finalize()


def datakey_plain_text(cmk_spec: str, dek: bytes) -> str:
    return (dek + digest(cmk_spec, dek)).hex().upper()


def assert_str_fields(body: dict[str, Any], fields: set[str]) -> None:
    assert set(body) == fields, body
    assert all(isinstance(value, str) for value in body.values()), body


def assert_data_cipher(cipher_text: Any) -> bytes:
    """§F5: standard Base64 matching decrypt-data's input regex; returns the decoded bytes."""
    assert isinstance(cipher_text, str)
    assert DATA_CIPHER_RE.fullmatch(cipher_text), cipher_text
    return base64.b64decode(cipher_text, validate=True)


def encrypt(kms: Any, key_id: str, text: str, *, project_id: str = PROJECT_ID, **fields: Any) -> str:
    reply = kms.call("encrypt_data", {"key_id": key_id, "plain_text": text, **fields}, project_id=project_id)
    body = ok(reply)
    assert_str_fields(body, {"key_id", "cipher_text"})
    assert body["key_id"] == key_id
    assert_data_cipher(body["cipher_text"])
    cipher: str = body["cipher_text"]
    return cipher


def decrypt(kms: Any, cipher_text: str, **fields: Any) -> dict[str, Any]:
    body = ok(kms.call("decrypt_data", {"cipher_text": cipher_text, **fields}))
    assert_str_fields(body, {"key_id", "plain_text", "plain_text_base64"})
    return body


def assert_decrypted(body: dict[str, Any], key_id: str, text: str) -> None:
    assert body["key_id"] == key_id
    assert body["plain_text"] == text
    assert base64.b64decode(body["plain_text_base64"], validate=True) == text.encode("utf-8")


def set_key_state(kms: Any, key_id: str, function: str, **fields: Any) -> None:
    ok(kms.call(function, {"key_id": key_id, **fields}))


def flip_base64_body_char(cipher_text: str, index: int = 20) -> str:
    """Change one Base64 character inside the sealed body, keeping the text valid Base64."""
    char = cipher_text[index]
    return cipher_text[:index] + ("B" if char != "B" else "C") + cipher_text[index + 1 :]


# -- the sample events ------------------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_sample_events_match_the_template_route(function: str) -> None:
    # Given the function's route in template.yaml and its two sample events
    logical_id, method, resource, authenticated = ROUTES[function]
    routes = [route for route in routes_from_template(TEMPLATE) if route.function == logical_id]
    api = json.loads((EVENTS / function / "api.json").read_text(encoding="utf-8"))
    direct = json.loads((EVENTS / function / "direct.json").read_text(encoding="utf-8"))

    # Then the template routes exactly one method and path to the function, authorised or public
    assert [(route.method, route.path) for route in routes] == [(method, resource)]
    assert (routes[0].authorizer is not None) is authenticated
    # And the API event is a REST proxy event of that route, on stage v1
    assert (api["resource"], api["httpMethod"]) == (resource, method)
    context = api["requestContext"]
    assert (context["resourcePath"], context["httpMethod"]) == (resource, method)
    assert context["path"] == f"/{context['stage']}{api['path']}"
    assert api["isBase64Encoded"] is False
    assert api["multiValueHeaders"] == {name: [value] for name, value in api["headers"].items()}
    assert api["headers"]["User-Agent"].startswith("huaweicloud-usdk-python/3.0")
    if authenticated:
        assert api["path"] == resource.replace("{project_id}", PROJECT_ID)
        assert api["pathParameters"] == {"project_id": PROJECT_ID}
        assert api["headers"]["X-Project-Id"] == PROJECT_ID
        assert api["headers"]["X-Auth-Token"].startswith("skms2.")
        assert context["authorizer"]["auth_method"] == "token"
        assert context["authorizer"]["project_id"] == PROJECT_ID
        assert context["authorizer"]["domain_id"] == EVENT_DOMAIN_ID
        assert direct["project_id"] == PROJECT_ID
    else:
        # Public: no credentials, no authorizer context, no project
        assert "authorizer" not in context
        assert not {"x-auth-token", "authorization", "x-project-id"} & {h.lower() for h in api["headers"]}
        assert "project_id" not in direct
    # And a POST carries the direct event's body as a JSON string; a GET carries none
    if method == "POST":
        assert isinstance(api["body"], str)
        assert json.loads(api["body"]) == direct["body"]
    else:
        assert api["body"] is None
        assert direct["body"] in ({}, {"version_id": "v1.0"})
    # And the placeholder key id of events/README.md is in the key-taking events
    if function in KEY_FUNCTIONS or function == "re_encrypt":
        key_field = "destination_key_id" if function == "re_encrypt" else "key_id"
        assert direct["body"][key_field] == PLACEHOLDER_KEY_ID


@pytest.mark.parametrize("function", ["create_datakey_without_plaintext", "encrypt_datakey", "encrypt_data"])
@pytest.mark.parametrize("kind", ["api", "direct"])
def test_sample_events_as_they_are_name_no_key(kms, function: str, kind: str) -> None:
    # Given a sample event left with its placeholder key id
    if kind == "api":
        reply = kms.api(function, kms.api_event(function))
        # Then the function answers 404 KMS.0207
        assert reply.status == 404
        assert reply.body["error"]["error_code"] == "KMS.0207"
    else:
        response = kms.invoke(function, kms.direct_event(function))
        assert response["error"]["error_code"] == "KMS.0207"


@pytest.mark.parametrize("function", ["decrypt_data", "re_encrypt"])
def test_sample_ciphertext_placeholders_name_no_key(kms, function: str) -> None:
    # Given the decrypt-data / re-encrypt sample events as they are: their placeholder cipher_text
    # is a well-formed §F4 blob (sealed under an all-zero key) naming the placeholder key id;
    # re-encrypt's destination is a real key, so only the source key is missing
    event = kms.api_event(function)
    if function == "re_encrypt":
        substitute(event, destination_key_id=kms.create_key(alias()))
    reply = kms.api(function, event)
    # Then the key it names does not exist
    assert (reply.status, reply.body["error"]["error_code"]) == (404, "KMS.0207")


# -- op 11 create-datakey-without-plaintext -----------------------------------------------------


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_create_datakey_without_plaintext_api_event(kms, spec: str) -> None:
    # Given a symmetric key and the sample event (datakey_length "512") with its id
    key_id = kms.create_key(alias(), key_spec=spec)
    event = substitute(kms.api_event("create_datakey_without_plaintext"), key_id=key_id)

    # When the function handles it
    reply = kms.api("create_datakey_without_plaintext", event)

    # Then only the key id and a hex §F4 blob come back: no plaintext
    body = ok(reply)
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]
    assert_str_fields(body, {"key_id", "cipher_text"})
    assert body["key_id"] == key_id
    assert UPPER_HEX_RE.fullmatch(body["cipher_text"])
    assert body["cipher_text"].startswith("0200")
    assert key_id.encode("ascii").hex().upper() in body["cipher_text"]
    # And decrypt-datakey opens it to a 64-byte DEK with its digest
    opened = kms.decrypt_datakey(key_id, body["cipher_text"], 64)
    dek = bytes.fromhex(opened["data_key"])
    assert len(dek) == 64
    assert opened["datakey_length"] == "64"
    assert opened["datakey_dgst"] == digest(spec, dek).hex().upper()


def test_create_datakey_without_plaintext_direct_event(kms) -> None:
    key_id = kms.create_key(alias())
    response = kms.invoke(
        "create_datakey_without_plaintext",
        substitute(kms.direct_event("create_datakey_without_plaintext"), key_id=key_id, datakey_length="128"),
    )
    assert_str_fields(response, {"key_id", "cipher_text"})
    assert response["key_id"] == key_id
    assert len(bytes.fromhex(kms.decrypt_datakey(key_id, response["cipher_text"], 16)["data_key"])) == 16


@pytest.mark.parametrize(
    ("fields", "spec", "usage", "status", "code"),
    [
        ({"datakey_length": "12"}, "AES_256", None, 400, "KMS.1903"),
        ({"datakey_length": "8200"}, "AES_256", None, 400, "KMS.1901"),
        ({}, "RSA_2048", "ENCRYPT_DECRYPT", 400, "KMS.0325"),
        ({}, "SM2", "ENCRYPT_DECRYPT", 400, "KMS.0325"),
    ],
    ids=["not-a-multiple-of-8", "too-long", "rsa-key", "sm2-key"],
)
def test_create_datakey_without_plaintext_errors(
    kms, fields: dict[str, str], spec: str, usage: str | None, status: int, code: str
) -> None:
    key_id = kms.create_key(alias(), key_spec=spec, **({"key_usage": usage} if usage else {}))
    kms.expect_error("create_datakey_without_plaintext", {"key_id": key_id, **fields}, status, code)


# -- op 12 encrypt-datakey ----------------------------------------------------------------------


def test_encrypt_datakey_api_event_wraps_the_sample_dek(kms) -> None:
    # Given an AES key and the sample event: 32 zero bytes followed by their SHA-256
    key_id = kms.create_key(alias())
    event = substitute(kms.api_event("encrypt_datakey"), key_id=key_id)
    sample = json.loads(event["body"])["plain_text"]
    assert sample == datakey_plain_text("AES_256", bytes(32))

    # When the function handles it
    body = ok(kms.api("encrypt_datakey", event))

    # Then a hex data-key blob and the DEK length in bytes, as strings
    assert_str_fields(body, {"key_id", "cipher_text", "datakey_length"})
    assert body["key_id"] == key_id
    assert body["datakey_length"] == "32"
    assert UPPER_HEX_RE.fullmatch(body["cipher_text"])
    # And decrypt-datakey gives the DEK back
    opened = kms.decrypt_datakey(key_id, body["cipher_text"], 32)
    assert opened["data_key"] == "00" * 32
    assert opened["datakey_dgst"] == digest("AES_256", bytes(32)).hex().upper()


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_encrypt_datakey_direct_event_round_trip(kms, spec: str) -> None:
    # Given a random 64-byte DEK with the digest of the CMK's family (SM3 for SM4)
    key_id = kms.create_key(alias(), key_spec=spec)
    dek = uuid.uuid4().bytes * 4
    event = substitute(
        kms.direct_event("encrypt_datakey"),
        key_id=key_id,
        plain_text=datakey_plain_text(spec, dek),
        datakey_plain_length="64",
        additional_authenticated_data="wrap-aad",
    )
    response = kms.invoke("encrypt_datakey", event)
    assert_str_fields(response, {"key_id", "cipher_text", "datakey_length"})
    assert response["datakey_length"] == "64"
    opened = kms.decrypt_datakey(
        key_id, response["cipher_text"], 64, additional_authenticated_data="wrap-aad"
    )
    assert opened["data_key"] == dek.hex().upper()
    # And the AAD is bound: without it the blob does not open
    kms.expect_error(
        "decrypt_datakey",
        {"key_id": key_id, "cipher_text": response["cipher_text"], "datakey_cipher_length": "64"},
        400,
        "KMS.2201",
    )


def test_encrypt_datakey_sha256_digest_is_refused_for_an_sm4_key(kms) -> None:
    key_id = kms.create_key(alias(), key_spec="SM4")
    body = {
        "key_id": key_id,
        "plain_text": datakey_plain_text("AES_256", bytes(32)),
        "datakey_plain_length": "32",
    }
    kms.expect_error("encrypt_datakey", body, 400, "KMS.2103")


@pytest.mark.parametrize(
    ("plain_text", "length", "code"),
    [
        ("ZZ" * 64, "32", "KMS.2101"),  # not hex
        ("ABC", "1", "KMS.2101"),  # odd length
        (None, "31", "KMS.2104"),  # length does not match
        (None, "0", "KMS.2102"),  # out of range
        (None, "1025", "KMS.2102"),
        (None, "x", "KMS.2102"),  # not decimal
    ],
    ids=["not-hex", "odd", "length-mismatch", "zero", "too-long", "not-decimal"],
)
def test_encrypt_datakey_errors(kms, plain_text: str | None, length: str, code: str) -> None:
    key_id = kms.create_key(alias())
    text = plain_text or datakey_plain_text("AES_256", bytes(32))
    kms.expect_error(
        "encrypt_datakey", {"key_id": key_id, "plain_text": text, "datakey_plain_length": length}, 400, code
    )


def test_encrypt_datakey_wrong_digest_and_missing_field(kms) -> None:
    key_id = kms.create_key(alias())
    wrong = (bytes(32) + bytes(32)).hex()
    kms.expect_error(
        "encrypt_datakey",
        {"key_id": key_id, "plain_text": wrong, "datakey_plain_length": "32"},
        400,
        "KMS.2103",
    )
    kms.expect_error("encrypt_datakey", {"key_id": key_id, "datakey_plain_length": "32"}, 400, "KMS.0204")


def test_encrypt_datakey_refuses_an_asymmetric_key(kms) -> None:
    key_id = kms.create_key(alias(), key_spec="RSA_2048", key_usage="ENCRYPT_DECRYPT")
    body = {
        "key_id": key_id,
        "plain_text": datakey_plain_text("AES_256", bytes(32)),
        "datakey_plain_length": "32",
    }
    kms.expect_error("encrypt_datakey", body, 400, "KMS.0325")


# -- ops 14, 15 encrypt-data / decrypt-data -------------------------------------------------------


@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_encrypt_data_then_decrypt_data_api_events(kms, spec: str) -> None:
    # Given a symmetric key and the encrypt-data sample event ("hello, kms") with its id
    key_id = kms.create_key(alias(), key_spec=spec)
    event = substitute(kms.api_event("encrypt_data"), key_id=key_id)

    # When encrypt-data handles it
    reply = kms.api("encrypt_data", event)

    # Then the ciphertext is §F5 Base64 of a §F4 frame naming the key
    body = ok(reply)
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]
    assert_str_fields(body, {"key_id", "cipher_text"})
    assert body["key_id"] == key_id
    raw = assert_data_cipher(body["cipher_text"])
    assert raw[:2] == b"\x02\x00"
    assert key_id.encode("ascii") in raw
    assert b"hello, kms" not in raw

    # When the decrypt-data sample event carries that ciphertext (and no key id)
    decrypt_event = substitute(kms.api_event("decrypt_data"), cipher_text=body["cipher_text"])
    opened = ok(kms.api("decrypt_data", decrypt_event))

    # Then the plaintext comes back, as text and as Base64
    assert_str_fields(opened, {"key_id", "plain_text", "plain_text_base64"})
    assert_decrypted(opened, key_id, "hello, kms")


def test_encrypt_data_then_decrypt_data_direct_events(kms) -> None:
    key_id = kms.create_key(alias(), key_spec="SM4")
    encrypted = kms.invoke(
        "encrypt_data", substitute(kms.direct_event("encrypt_data"), key_id=key_id, plain_text=UNICODE_TEXT)
    )
    assert_str_fields(encrypted, {"key_id", "cipher_text"})
    assert_data_cipher(encrypted["cipher_text"])
    opened = kms.invoke(
        "decrypt_data",
        substitute(kms.direct_event("decrypt_data"), cipher_text=encrypted["cipher_text"], key_id=key_id),
    )
    assert_str_fields(opened, {"key_id", "plain_text", "plain_text_base64"})
    assert_decrypted(opened, key_id, UNICODE_TEXT)


@pytest.mark.parametrize(
    "text", [UNICODE_TEXT, "x", "é" * 2048, "🔐" * 1024], ids=["mixed", "1", "2048x2B", "1024x4B"]
)
def test_encrypt_data_round_trips_unicode_up_to_4096_utf8_bytes(kms, text: str) -> None:
    key_id = kms.create_key(alias())
    assert_decrypted(decrypt(kms, encrypt(kms, key_id, text)), key_id, text)


@pytest.mark.parametrize(
    "text", ["a" * 4097, "é" * 2049, "🔐" * 1025, ""], ids=["4097", "4098B", "4100B", "empty"]
)
def test_encrypt_data_plain_text_limits(kms, text: str) -> None:
    key_id = kms.create_key(alias())
    kms.expect_error("encrypt_data", {"key_id": key_id, "plain_text": text}, 400, "KMS.2101")


def test_additional_authenticated_data_and_context_are_bound(kms) -> None:
    # Given a ciphertext made with AAD and an encryption context
    key_id = kms.create_key(alias())
    context = {"purpose": "it", "tenant": "t1"}
    cipher = encrypt(
        kms, key_id, UNICODE_TEXT, additional_authenticated_data="aad-1", encryption_context=context
    )
    # Then it opens with exactly the same AAD and context, whatever the key order
    opened = decrypt(
        kms, cipher, additional_authenticated_data="aad-1", encryption_context=dict(reversed(context.items()))
    )
    assert_decrypted(opened, key_id, UNICODE_TEXT)
    # And not with another AAD, without it, or without the context
    for fields in (
        {"additional_authenticated_data": "aad-2", "encryption_context": context},
        {"encryption_context": context},
        {"additional_authenticated_data": "aad-1"},
        {"additional_authenticated_data": "aad-1", "encryption_context": {**context, "tenant": "t2"}},
    ):
        kms.expect_error("decrypt_data", {"cipher_text": cipher, **fields}, 400, "KMS.2201")


def test_decrypt_data_with_the_wrong_key_id_is_invalid_cipher_text(kms) -> None:
    key_id, other = kms.create_key(alias()), kms.create_key(alias())
    cipher = encrypt(kms, key_id, "payload")
    kms.expect_error("decrypt_data", {"cipher_text": cipher, "key_id": other}, 400, "KMS.2201")
    kms.expect_error("decrypt_data", {"cipher_text": cipher, "key_id": UNKNOWN_KEY_ID}, 404, "KMS.0207")


def test_tampered_encrypt_data_ciphertexts_are_refused(kms) -> None:
    key_id = kms.create_key(alias())
    cipher = encrypt(kms, key_id, "x" * 100)
    raw = base64.b64decode(cipher)
    # one Base64 character of the body; a truncated blob; a forged trailer; a data-key blob
    tampered = [
        flip_base64_body_char(cipher),
        base64.b64encode(raw[:-33]).decode(),
        base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode(),
    ]
    for text in tampered:
        kms.expect_error("decrypt_data", {"cipher_text": text}, 400, "KMS.2201")
    # a valid data-key blob in Base64 is not an encrypt-data ciphertext (the purpose is bound)
    blob = bytes.fromhex(kms.create_datakey(key_id, datakey_length="512")["cipher_text"])
    kms.expect_error("decrypt_data", {"cipher_text": base64.b64encode(blob).decode()}, 400, "KMS.2201")


def test_every_single_byte_change_is_refused_by_the_handler(kms) -> None:
    # Given one encrypt-data ciphertext
    key_id = kms.create_key(alias())
    raw = base64.b64decode(encrypt(kms, key_id, "tamper-" * 3))
    # Then changing any one byte gives a 4xx KMS error, never a plaintext or a 5xx
    for index in range(len(raw)):
        changed = raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]
        reply = kms.call("decrypt_data", {"cipher_text": base64.b64encode(changed).decode()})
        assert 400 <= reply.status < 500, (index, reply.raw_body)
        assert reply.body["error"]["error_code"].startswith("KMS."), (index, reply.raw_body)


def test_decrypt_data_cipher_text_format(kms) -> None:
    kms.expect_error("decrypt_data", {"cipher_text": "A" * 127}, 400, "KMS.2201")  # below the regex
    kms.expect_error("decrypt_data", {"cipher_text": "!" * 200}, 400, "KMS.2201")
    kms.expect_error("decrypt_data", {"cipher_text": "A" * 129}, 400, "KMS.2201")  # not Base64
    kms.expect_error("decrypt_data", {}, 400, "KMS.0204")


def test_a_ciphertext_of_another_project_does_not_open(kms) -> None:
    # Given a ciphertext made in another project
    created = ok(kms.call("create_key", {"key_alias": alias()}, project_id=OTHER_PROJECT_ID))
    other_key = created["key_info"]["key_id"]
    cipher = encrypt(kms, other_key, "secret of the other project", project_id=OTHER_PROJECT_ID)
    # Then in this project its key does not exist: 404 KMS.0207
    kms.expect_error("decrypt_data", {"cipher_text": cipher}, 404, "KMS.0207")
    kms.expect_error("decrypt_data", {"cipher_text": cipher, "key_id": other_key}, 404, "KMS.0207")


@pytest.mark.parametrize(
    ("function", "fields", "code"),
    [
        ("disable_key", {}, "KMS.0209"),
        ("schedule_key_deletion", {"pending_days": "7"}, "KMS.0210"),
    ],
    ids=["disabled", "pending-deletion"],
)
def test_key_state_is_checked_by_every_data_operation(
    kms, function: str, fields: dict[str, str], code: str
) -> None:
    # Given a ciphertext, a data-key blob and a key that is then disabled / scheduled for deletion
    key_id = kms.create_key(alias())
    destination = kms.create_key(alias())
    cipher = encrypt(kms, key_id, "state")
    datakey_blob = kms.create_datakey(key_id)["cipher_text"]
    set_key_state(kms, key_id, function, **fields)
    # Then every operation on that key is refused with the state's code
    kms.expect_error("encrypt_data", {"key_id": key_id, "plain_text": "x"}, 400, code)
    kms.expect_error("decrypt_data", {"cipher_text": cipher}, 400, code)
    kms.expect_error("create_datakey_without_plaintext", {"key_id": key_id}, 400, code)
    body = {
        "key_id": key_id,
        "plain_text": datakey_plain_text("AES_256", bytes(32)),
        "datakey_plain_length": "32",
    }
    kms.expect_error("encrypt_datakey", body, 400, code)
    kms.expect_error("re_encrypt", {"cipher_text": cipher, "destination_key_id": destination}, 400, code)
    kms.expect_error(
        "re_encrypt",
        {"cipher_text": datakey_blob, "destination_key_id": destination, "datakey_cipher_length": "32"},
        400,
        code,
    )
    kms.expect_error(
        "re_encrypt", {"cipher_text": encrypt(kms, destination, "d"), "destination_key_id": key_id}, 400, code
    )


# -- asymmetric ENCRYPT_DECRYPT keys ----------------------------------------------------------


@pytest.mark.parametrize(("spec", "algorithm"), [("RSA_2048", "RSAES_OAEP_SHA_256"), ("SM2", "SM2_ENCRYPT")])
def test_asymmetric_round_trip(kms, spec: str, algorithm: str) -> None:
    # Given an asymmetric ENCRYPT_DECRYPT key
    key_id = kms.create_key(alias(), key_spec=spec, key_usage="ENCRYPT_DECRYPT")
    text = "asymmetric ünïcødé 🔐"
    # When data is encrypted with its algorithm
    cipher = encrypt(kms, key_id, text, encryption_algorithm=algorithm)
    raw = base64.b64decode(cipher)
    assert key_id.encode() not in raw  # no §F4 frame: the key id must be given back
    # Then decrypt-data needs the key id (KMS.0204) and opens it with it
    kms.expect_error(
        "decrypt_data", {"cipher_text": cipher, "encryption_algorithm": algorithm}, 400, "KMS.0204"
    )
    opened = decrypt(kms, cipher, key_id=key_id, encryption_algorithm=algorithm)
    assert_decrypted(opened, key_id, text)
    # And a changed byte does not open (KMS.2201)
    changed = base64.b64encode(raw[:-5] + bytes([raw[-5] ^ 1]) + raw[-4:]).decode()
    kms.expect_error(
        "decrypt_data",
        {"cipher_text": changed, "key_id": key_id, "encryption_algorithm": algorithm},
        400,
        "KMS.2201",
    )


def test_asymmetric_keys_refuse_aad_and_context_and_oversized_plaintexts(kms) -> None:
    key_id = kms.create_key(alias(), key_spec="RSA_2048", key_usage="ENCRYPT_DECRYPT")
    base = {"key_id": key_id, "plain_text": "x", "encryption_algorithm": "RSAES_OAEP_SHA_256"}
    kms.expect_error("encrypt_data", {**base, "additional_authenticated_data": "a"}, 400, "KMS.0308")
    kms.expect_error("encrypt_data", {**base, "encryption_context": {"k": "v"}}, 400, "KMS.0308")
    # RSA-2048 OAEP SHA-256 takes at most 256 - 2*32 - 2 = 190 bytes
    encrypt(kms, key_id, "y" * 190, encryption_algorithm="RSAES_OAEP_SHA_256")
    kms.expect_error("encrypt_data", {**base, "plain_text": "y" * 191}, 400, "KMS.2108")


@pytest.mark.parametrize(
    ("spec", "usage", "algorithm", "code"),
    [
        ("AES_256", None, "RSAES_OAEP_SHA_256", "KMS.2105"),
        ("SM4", None, "SM2_ENCRYPT", "KMS.2105"),
        ("RSA_2048", "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", "KMS.2106"),
        ("RSA_2048", "ENCRYPT_DECRYPT", "SM2_ENCRYPT", "KMS.2106"),
        ("SM2", "ENCRYPT_DECRYPT", "RSAES_OAEP_SHA_256", "KMS.2106"),
        ("EC_P256", "SIGN_VERIFY", "RSAES_OAEP_SHA_256", "KMS.1114"),
        ("RSA_2048", "SIGN_VERIFY", "RSAES_OAEP_SHA_256", "KMS.0335"),
    ],
)
def test_key_and_algorithm_mismatches(kms, spec: str, usage: str | None, algorithm: str, code: str) -> None:
    key_id = kms.create_key(alias(), key_spec=spec, **({"key_usage": usage} if usage else {}))
    body = {"key_id": key_id, "plain_text": "x", "encryption_algorithm": algorithm}
    kms.expect_error("encrypt_data", body, 400, code)


# -- op 16 re-encrypt -----------------------------------------------------------------------------


def test_re_encrypt_api_event_from_aes_to_sm4(kms) -> None:
    # Given an encrypt-data ciphertext under an AES key (with AAD) and an SM4 destination
    source, destination = kms.create_key(alias()), kms.create_key(alias(), key_spec="SM4")
    cipher = encrypt(kms, source, UNICODE_TEXT, additional_authenticated_data="src")
    event = substitute(
        kms.api_event("re_encrypt"),
        cipher_text=cipher,
        destination_key_id=destination,
        source_additional_authenticated_data="src",
        destination_additional_authenticated_data="dst",
    )

    # When re-encrypt handles the sample event
    body = ok(kms.api("re_encrypt", event))

    # Then the new ciphertext is Base64 under the destination, with every field a string
    assert_str_fields(
        body,
        {
            "key_id",
            "source_key_id",
            "source_encryption_algorithm",
            "destination_encryption_algorithm",
            "cipher_text",
        },
    )
    assert (body["key_id"], body["source_key_id"]) == (destination, source)
    assert (
        body["source_encryption_algorithm"] == body["destination_encryption_algorithm"] == "SYMMETRIC_DEFAULT"
    )
    assert destination.encode() in assert_data_cipher(body["cipher_text"])
    # And decrypt-data opens it with the destination AAD only
    assert_decrypted(
        decrypt(kms, body["cipher_text"], additional_authenticated_data="dst"), destination, UNICODE_TEXT
    )
    kms.expect_error(
        "decrypt_data",
        {"cipher_text": body["cipher_text"], "additional_authenticated_data": "src"},
        400,
        "KMS.2201",
    )


def test_re_encrypt_direct_event_of_a_data_key_blob_stays_hex(kms) -> None:
    # Given a data-key blob (hex) under an AES key
    source, destination = kms.create_key(alias()), kms.create_key(alias(), key_spec="SM4")
    created = kms.create_datakey(source, datakey_length="256")
    event = substitute(
        kms.direct_event("re_encrypt"),
        cipher_text=created["cipher_text"],
        destination_key_id=destination,
        datakey_cipher_length="32",
    )
    # When it is re-encrypted by direct invocation
    response = kms.invoke("re_encrypt", event)
    # Then the result is a hex data-key blob that decrypt-datakey opens under the destination
    assert set(response) == {
        "key_id",
        "source_key_id",
        "source_encryption_algorithm",
        "destination_encryption_algorithm",
        "cipher_text",
    }, response
    assert UPPER_HEX_RE.fullmatch(response["cipher_text"])
    opened = kms.decrypt_datakey(destination, response["cipher_text"], 32)
    assert opened["data_key"] == created["plain_text"]
    assert opened["datakey_dgst"] == digest("SM4", bytes.fromhex(created["plain_text"])).hex().upper()


def test_re_encrypt_between_symmetric_and_asymmetric_keys(kms) -> None:
    aes = kms.create_key(alias())
    rsa = kms.create_key(alias(), key_spec="RSA_2048", key_usage="ENCRYPT_DECRYPT")
    # symmetric -> RSA: needs the destination algorithm; the result opens with the key id
    cipher = encrypt(kms, aes, "cross")
    body = ok(
        kms.call(
            "re_encrypt",
            {
                "cipher_text": cipher,
                "destination_key_id": rsa,
                "destination_encryption_algorithm": "RSAES_OAEP_SHA_256",
            },
        )
    )
    assert body["destination_encryption_algorithm"] == "RSAES_OAEP_SHA_256"
    assert_decrypted(
        decrypt(kms, body["cipher_text"], key_id=rsa, encryption_algorithm="RSAES_OAEP_SHA_256"), rsa, "cross"
    )
    # RSA -> symmetric: needs source_key_id (KMS.0204) and the source algorithm
    back = {
        "cipher_text": body["cipher_text"],
        "destination_key_id": aes,
        "source_encryption_algorithm": "RSAES_OAEP_SHA_256",
    }
    kms.expect_error("re_encrypt", back, 400, "KMS.0204")
    again = ok(kms.call("re_encrypt", {**back, "source_key_id": rsa}))
    assert (again["key_id"], again["source_key_id"]) == (aes, rsa)
    assert_decrypted(decrypt(kms, again["cipher_text"]), aes, "cross")


def test_re_encrypt_errors(kms) -> None:
    source, destination = kms.create_key(alias()), kms.create_key(alias())
    rsa = kms.create_key(alias(), key_spec="RSA_2048", key_usage="ENCRYPT_DECRYPT")
    datakey_blob = kms.create_datakey(source, datakey_length="512")["cipher_text"]
    cipher = encrypt(kms, source, "x", additional_authenticated_data="a")
    # a data-key blob needs datakey_cipher_length, which must match and be in range
    kms.expect_error(
        "re_encrypt", {"cipher_text": datakey_blob, "destination_key_id": destination}, 400, "KMS.0204"
    )
    for length, status, code in (("32", 400, "KMS.2204"), ("0", 400, "KMS.2202"), ("x", 400, "KMS.2202")):
        kms.expect_error(
            "re_encrypt",
            {"cipher_text": datakey_blob, "destination_key_id": destination, "datakey_cipher_length": length},
            status,
            code,
        )
    # data keys stay under symmetric keys
    kms.expect_error(
        "re_encrypt",
        {
            "cipher_text": datakey_blob,
            "destination_key_id": rsa,
            "datakey_cipher_length": "64",
            "destination_encryption_algorithm": "RSAES_OAEP_SHA_256",
        },
        400,
        "KMS.0325",
    )
    # the source AAD must be given again; the destination must exist; the blob must be intact
    kms.expect_error(
        "re_encrypt", {"cipher_text": cipher, "destination_key_id": destination}, 400, "KMS.2201"
    )
    kms.expect_error(
        "re_encrypt",
        {
            "cipher_text": cipher,
            "destination_key_id": UNKNOWN_KEY_ID,
            "source_additional_authenticated_data": "a",
        },
        404,
        "KMS.0207",
    )
    kms.expect_error(
        "re_encrypt",
        {
            "cipher_text": flip_base64_body_char(cipher),
            "destination_key_id": destination,
            "source_additional_authenticated_data": "a",
        },
        400,
        "KMS.2201",
    )
    kms.expect_error("re_encrypt", {"cipher_text": cipher}, 400, "KMS.0204")
    kms.expect_error("re_encrypt", {"cipher_text": cipher, "destination_key_id": "nope"}, 400, "KMS.0205")


# -- op 68 gen-random ---------------------------------------------------------------------------


def test_create_random_api_and_direct_events(kms) -> None:
    # Given the sample events (random_data_length "512")
    reply = kms.api("create_random", kms.api_event("create_random"))
    body = ok(reply)
    direct = kms.invoke("create_random", kms.direct_event("create_random"))
    # Then 512 bits come back as 128 upper-case hex characters, different each time
    for result in (body, direct):
        assert_str_fields(result, {"random_data"})
        assert UPPER_HEX_RE.fullmatch(result["random_data"])
        assert len(result["random_data"]) == 128
    assert body["random_data"] != direct["random_data"]


@pytest.mark.parametrize(("bits", "hex_len"), [("8", 2), ("256", 64), ("8192", 2048)])
def test_create_random_lengths(kms, bits: str, hex_len: int) -> None:
    body = ok(kms.call("create_random", {"random_data_length": bits}))
    assert len(body["random_data"]) == hex_len
    assert UPPER_HEX_RE.fullmatch(body["random_data"])


@pytest.mark.parametrize(
    ("bits", "code"),
    [("12", "KMS.1802"), ("0", "KMS.0308"), ("8200", "KMS.0308"), ("abc", "KMS.0308"), ("-8", "KMS.0308")],
)
def test_create_random_errors(kms, bits: str, code: str) -> None:
    kms.expect_error("create_random", {"random_data_length": bits}, 400, code)


def test_create_random_requires_its_length(kms) -> None:
    kms.expect_error("create_random", {}, 400, "KMS.0204")


# -- ops 69, 70 user-quotas / user-instances ----------------------------------------------------


def test_user_quotas_and_instances_count_the_keys_of_the_project(kms, aws_services: Services) -> None:
    # Given an empty project, then three keys in it and one in another project
    def quotas() -> dict[str, dict[str, Any]]:
        body = ok(kms.api("show_user_quotas", kms.api_event("show_user_quotas")))
        assert set(body) == {"quotas"}
        assert set(body["quotas"]) == {"resources"}
        resources = body["quotas"]["resources"]
        for resource in resources:
            assert set(resource) == {"type", "used", "quota"}, resource
            assert isinstance(resource["type"], str)
            assert type(resource["used"]) is int
            assert type(resource["quota"]) is int
        return {resource["type"]: resource for resource in resources}

    def instances() -> int:
        body = ok(kms.api("show_user_instances", kms.api_event("show_user_instances")))
        assert set(body) == {"instance_num"}
        assert type(body["instance_num"]) is int
        count: int = body["instance_num"]
        return count

    before = quotas()
    assert set(before) == {"CMK", "grant_per_CMK"}
    assert before["CMK"]["used"] == 0
    assert before["CMK"]["quota"] == aws_services.settings.key_quota
    assert before["grant_per_CMK"]["quota"] >= 1
    assert instances() == 0

    for _ in range(3):
        kms.create_key(alias())
    ok(kms.call("create_key", {"key_alias": alias()}, project_id=OTHER_PROJECT_ID))

    # Then this project counts three
    assert quotas()["CMK"]["used"] == 3
    assert instances() == 3
    # And the direct invocations say the same
    direct = kms.invoke("show_user_quotas", kms.direct_event("show_user_quotas"))
    assert {r["type"]: r["used"] for r in direct["quotas"]["resources"]}["CMK"] == 3
    assert kms.invoke("show_user_instances", kms.direct_event("show_user_instances")) == {"instance_num": 3}
    # And the other project counts one
    other = kms.invoke(
        "show_user_instances", kms.direct_event("show_user_instances", project_id=OTHER_PROJECT_ID)
    )
    assert other == {"instance_num": 1}


def test_quotas_still_count_a_key_pending_deletion(kms) -> None:
    key_id = kms.create_key(alias())
    set_key_state(kms, key_id, "schedule_key_deletion", pending_days="7")
    assert kms.invoke("show_user_instances", kms.direct_event("show_user_instances")) == {"instance_num": 1}


def test_a_deleted_key_leaves_the_counts_and_its_ciphertexts_no_longer_open(
    kms, aws_services: Services
) -> None:
    # Given two keys, a ciphertext under the first, and the first scheduled for deletion
    doomed, kept = kms.create_key(alias()), kms.create_key(alias())
    cipher = encrypt(kms, doomed, "soon gone")
    set_key_state(kms, doomed, "schedule_key_deletion", pending_days="7")
    assert kms.invoke("show_user_instances", kms.direct_event("show_user_instances")) == {"instance_num": 2}

    # When its deletion happens: the key becomes a tombstone (deleted_at set, material erased),
    # the one write the deletion sweep makes (skms.logic.sweep)
    record = aws_services.stores.keys.get_key(PROJECT_ID, doomed)
    assert record is not None
    aws_services.stores.keys.update_key(
        record.replace(deleted_at=now_ms(), versions=record.versions.erased()), record.revision
    )

    # Then the project counts one key, in both documents
    assert kms.invoke("show_user_instances", kms.direct_event("show_user_instances")) == {"instance_num": 1}
    quotas = kms.invoke("show_user_quotas", kms.direct_event("show_user_quotas"))
    assert {r["type"]: r["used"] for r in quotas["quotas"]["resources"]}["CMK"] == 1
    # And its ciphertexts no longer open nor move: its key does not exist any more
    kms.expect_error("decrypt_data", {"cipher_text": cipher}, 404, "KMS.0207")
    kms.expect_error("re_encrypt", {"cipher_text": cipher, "destination_key_id": kept}, 404, "KMS.0207")


@pytest.mark.parametrize("function", ["show_user_quotas", "show_user_instances"])
def test_quota_routes_go_through_the_authorizer_with_aksk(kms, principals: Any, function: str) -> None:
    # Given the GET sample event signed with AK/SK now (no body), through API Gateway
    event = kms.sign(kms.api_event(function), principals, context=False)
    reply = kms.gateway(function, event)
    # Then it is allowed and answered
    assert reply.status == 200, reply.raw_body
    # And with a wrong secret it is refused by the gateway
    bad = kms.sign(kms.api_event(function), principals, secret_key="wrong", context=False)
    assert kms.gateway(function, bad).status in (401, 403)


def test_data_routes_check_the_aksk_signature_over_the_body(kms, principals: Any) -> None:
    # Given an AK/SK encrypt-data request through API Gateway
    key_id = kms.create_key(alias())
    event = kms.sign(substitute(kms.api_event("encrypt_data"), key_id=key_id), principals, context=False)
    reply = kms.gateway("encrypt_data", event)
    assert reply.status == 200, reply.raw_body
    # When its body is changed after signing (the authorizer does not see the body)
    forged = kms.sign(substitute(kms.api_event("encrypt_data"), key_id=key_id), principals, context=False)
    substitute(forged, plain_text="changed after signing")
    reply = kms.gateway("encrypt_data", forged)
    # Then the function refuses it: 401 APIGW.0301
    assert (reply.status, reply.body["error"]["error_code"]) == (401, "APIGW.0301")


# -- ops 71, 72 versions (public) ---------------------------------------------------------------


def assert_version_detail(detail: Any) -> None:
    assert set(detail) == {"id", "links", "version", "status", "updated", "min_version"}, detail
    assert detail["id"] == "v1.0"
    assert detail["status"] == "CURRENT"
    assert all(isinstance(detail[f], str) for f in ("id", "version", "status", "updated", "min_version"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", detail["updated"])
    assert isinstance(detail["links"], list)
    assert detail["links"]
    for link in detail["links"]:
        assert set(link) == {"href", "rel"}
        assert isinstance(link["href"], str)
        assert link["href"].endswith("/v1.0/")
    assert detail["links"][0]["rel"] == "self"


def test_show_versions_answers_without_an_authorizer_context(kms) -> None:
    # Given the public GET / event: no authorizer context, no credentials
    event = kms.api_event("show_versions")
    assert "authorizer" not in event["requestContext"]
    reply = kms.api("show_versions", event)
    body = ok(reply)
    assert reply.headers["X-Request-Id"] == event["requestContext"]["requestId"]
    assert set(body) == {"versions"}
    assert len(body["versions"]) == 1
    assert_version_detail(body["versions"][0])
    # And the direct invocation gives the same document
    assert kms.invoke("show_versions", kms.direct_event("show_versions")) == body


def test_show_version_answers_without_an_authorizer_context(kms) -> None:
    event = kms.api_event("show_version")
    assert "authorizer" not in event["requestContext"]
    body = ok(kms.api("show_version", event))
    assert set(body) == {"version"}
    assert_version_detail(body["version"])
    assert kms.invoke("show_version", kms.direct_event("show_version")) == body


def test_show_version_of_an_unknown_version_is_404(kms) -> None:
    event = kms.api_event("show_version")
    event["pathParameters"] = {"version_id": "v2.0"}
    event["path"] = "/v2.0"
    event["requestContext"]["path"] = "/v1/v2.0"
    reply = kms.api("show_version", event)
    assert (reply.status, reply.body["error"]["error_code"]) == (404, "KMS.0201")


def test_public_routes_ignore_credentials_but_quota_routes_check_the_project(kms) -> None:
    # A public event carrying a junk token is answered all the same (nothing checks it)
    event = kms.api_event("show_versions")
    kms.set_header(event, "X-Auth-Token", "not-a-token")
    assert kms.api("show_versions", event).status == 200
    # A project-scoped GET with an invalid project in the path is an invalid URL (400 KMS.0201)
    event = kms.api_event("show_user_quotas")
    event["pathParameters"] = {"project_id": "bad/project"}
    reply = kms.api("show_user_quotas", event)
    assert (reply.status, reply.body["error"]["error_code"]) == (400, "KMS.0201")
    # A project other than the one the authorizer allowed is refused (403 KMS.0307)
    event = kms.api_event("show_user_instances")
    event["pathParameters"] = {"project_id": OTHER_PROJECT_ID}
    reply = kms.api("show_user_instances", event)
    assert (reply.status, reply.body["error"]["error_code"]) == (403, "KMS.0307")
    # And without any authorizer context it is unauthenticated (401 APIGW.0301)
    event = kms.api_event("show_user_quotas")
    del event["requestContext"]["authorizer"]
    reply = kms.api("show_user_quotas", event)
    assert (reply.status, reply.body["error"]["error_code"]) == (401, "APIGW.0301")
