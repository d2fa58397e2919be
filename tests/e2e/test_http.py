"""Raw HTTP/1.1 against ``skms serve`` with ``http.client`` over real sockets.

Every request is signed like the SDK signs (spec §F6), so these tests keep passing once the server
verifies signatures. Checks: the seed's exact examples, the §F4 frame of the data-key ciphertext,
X-Request-Id on every response, the §F2 error body for bad input (never a 5xx), keep-alive.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import struct
import time
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

KEY_ID_RE = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
UPPER_HEX_RE = re.compile(r"^[0-9A-F]+$")
JSON_CONTENT_TYPE_RE = re.compile(r"^application/json\b", re.IGNORECASE)
MAX_BODY_BYTES = 64 * 1024

# The seeds' request examples, byte for byte (formatting included).
SEED_CREATE_KEY = b'{\n  "key_alias" : "test"\n}'
SEED_CREATE_DATAKEY = '{\n    "key_id": "%s",\n    "datakey_length": "512"\n}'


def check_reply(reply: Any) -> Any:
    """Every response carries a request id and a JSON content type."""
    assert reply.request_id, f"no X-Request-Id on {reply.status}: {reply.headers}"
    assert JSON_CONTENT_TYPE_RE.match(reply.headers.get("Content-Type", "")), reply.headers
    return reply


def check_error(reply: Any, status: int | tuple[int, ...], codes: str | tuple[str, ...] | None = None) -> str:
    """A 4xx with exactly the §F2 body; returns the error code."""
    check_reply(reply)
    statuses = (status,) if isinstance(status, int) else status
    assert reply.status in statuses, (reply.status, reply.body)
    code: str = reply.error_code()
    if codes is not None:
        assert code in ((codes,) if isinstance(codes, str) else codes), reply.body
    return code


def check_frame(cipher: bytes, key_id: str) -> None:
    """§F4: 02 00 marker, LE u16 length, key id ASCII before a 4-byte version, SHA-256 trailer."""
    assert cipher[:2] == b"\x02\x00"
    (length,) = struct.unpack_from("<H", cipher, 2)
    assert length == len(cipher) - 36
    assert cipher[len(cipher) - 72 : len(cipher) - 36] == key_id.encode("ascii")
    assert cipher[-32:] == hashlib.sha256(cipher[:-32]).digest()


@pytest.fixture(scope="module")
def key_id(raw_api_factory: Any, skms_server: Any) -> str:
    """An AES_256 key of the default project, for the data-key requests of this module."""
    api = raw_api_factory(skms_server.base_url)
    result = api.post_ok("create-key", {"key_alias": f"http-{uuid.uuid4().hex[:12]}"})
    key_id = result["key_info"]["key_id"]
    assert isinstance(key_id, str)
    return key_id


# -- the signer ----------------------------------------------------------------------------------


def test_signer_matches_the_spec_test_vector(raw_api: Any) -> None:
    # §F6 test vector, produced with the SDK's own Signer
    headers = {
        "Content-Type": "application/json;charset=utf-8",
        "User-Agent": "huaweicloud-usdk-python/3.0",
        "X-Project-Id": "proj123",
        "X-Sdk-Date": "20240101T000000Z",
        "Host": "127.0.0.1:3000",
    }
    authorization = raw_api.sign(
        "POST",
        "/v1.0/proj123/kms/create-key",
        "",
        headers,
        b'{"key_alias": "test"}',
        "AKEXAMPLE",
        "SKEXAMPLE",
    )
    assert authorization == (
        "SDK-HMAC-SHA256 Access=AKEXAMPLE, "
        "SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, "
        "Signature=9ce22768b286a0d0f21f05a4fa24fc30681875d67a51925cc4357d4806eb949e"
    )


# -- the seeds' examples -------------------------------------------------------------------------


def test_seed_create_key_example(raw_api: Any) -> None:
    # When the seed's exact request body is sent
    reply = check_reply(raw_api.request("POST", raw_api.path("create-key"), SEED_CREATE_KEY))
    # Then 200 with key_info of strings
    assert reply.status == 200, reply.body
    info = reply.json()["key_info"]
    for name in ("key_id", "domain_id", "region_id"):
        assert isinstance(info[name], str), info
        assert info[name], info
    assert KEY_ID_RE.fullmatch(info["key_id"])
    # And the alias is now taken (for a new request: the same one again at once would be a replay,
    # answered with the first answer; README, Replayed requests)
    again = json.dumps({**json.loads(SEED_CREATE_KEY), "sequence": str(uuid.uuid4())}).encode()
    check_error(raw_api.request("POST", raw_api.path("create-key"), again), 400, "KMS.1104")


def test_seed_create_datakey_example(raw_api: Any, key_id: str) -> None:
    body = (SEED_CREATE_DATAKEY % key_id).encode()
    reply = check_reply(raw_api.request("POST", raw_api.path("create-datakey"), body))
    assert reply.status == 200, reply.body
    result = reply.json()
    assert result["key_id"] == key_id
    # plain_text: 64 bytes as 128 upper-case hex characters (§F3)
    plain_text = result["plain_text"]
    assert UPPER_HEX_RE.fullmatch(plain_text)
    assert len(plain_text) == 128
    # cipher_text: upper-case hex of a §F4 frame naming the CMK
    cipher_text = result["cipher_text"]
    assert UPPER_HEX_RE.fullmatch(cipher_text)
    assert cipher_text.startswith("0200")
    check_frame(bytes.fromhex(cipher_text), key_id)
    # And it decrypts to the same DEK
    decrypted = raw_api.post_ok(
        "decrypt-datakey", {"key_id": key_id, "cipher_text": cipher_text, "datakey_cipher_length": "64"}
    )
    assert decrypted == {
        "data_key": plain_text,
        "datakey_length": "64",
        "datakey_dgst": hashlib.sha256(bytes.fromhex(plain_text)).hexdigest().upper(),
    }


def test_lower_case_cipher_text_is_accepted(raw_api: Any, key_id: str) -> None:
    created = raw_api.post_ok("create-datakey", {"key_id": key_id, "datakey_length": "256"})
    decrypted = raw_api.post_ok(
        "decrypt-datakey",
        {"key_id": key_id, "cipher_text": created["cipher_text"].lower(), "datakey_cipher_length": "32"},
    )
    assert decrypted["data_key"] == created["plain_text"]


# -- request ids ---------------------------------------------------------------------------------


def test_every_response_has_a_distinct_request_id(raw_api: Any, key_id: str) -> None:
    replies = [
        raw_api.post("create-key", {"key_alias": f"http-rid-{uuid.uuid4().hex[:8]}"}),  # 200
        raw_api.post("create-datakey", {"key_id": key_id}),  # 200
        raw_api.post("create-key", {}),  # 400 from the function
        raw_api.request("GET", raw_api.path("create-key")),  # 405 from the gateway
        raw_api.request("POST", raw_api.path("no-such-operation"), b"{}"),  # 404 from the gateway
    ]
    for reply in replies:
        check_reply(reply)
    assert [r.status for r in replies] == [200, 200, 400, 405, 404]
    assert len({r.request_id for r in replies}) == len(replies)


# -- bad input: a 4xx with the Huawei error body, never a 5xx ------------------------------------

BAD_CREATE_KEY_BODIES = [
    pytest.param(b"not json", ("KMS.0202",), id="not-json"),
    pytest.param(b'{"key_alias": "x"', ("KMS.0202",), id="truncated-json"),
    pytest.param(b"[]", ("KMS.0202", "KMS.0214"), id="json-array"),
    pytest.param(b'[{"key_alias": "x"}]', ("KMS.0202", "KMS.0214"), id="json-array-of-object"),
    pytest.param(b"null", ("KMS.0202", "KMS.0214"), id="json-null"),
    pytest.param(b'"text"', ("KMS.0202", "KMS.0214"), id="json-string"),
    pytest.param(b"42", ("KMS.0202", "KMS.0214"), id="json-number"),
    pytest.param(b"", ("KMS.0204",), id="empty-body"),
    pytest.param(b"{}", ("KMS.0204",), id="empty-object"),
    pytest.param(b"\xff\xfe{}", ("KMS.0202",), id="not-utf8"),
    pytest.param(b"[" * 5000 + b"]" * 5000, ("KMS.0202", "KMS.0214"), id="deeply-nested"),
    pytest.param(b'{"key_alias": 5}', ("KMS.1101",), id="alias-number"),
    pytest.param(b'{"key_alias": null}', ("KMS.1101", "KMS.0204"), id="alias-null"),
    pytest.param(b'{"key_alias": ["a"]}', ("KMS.1101",), id="alias-list"),
    pytest.param(b'{"key_alias": {"a": "b"}}', ("KMS.1101",), id="alias-object"),
    pytest.param(b'{"key_alias": true}', ("KMS.1101",), id="alias-bool"),
    pytest.param(b'{"key_alias": ""}', ("KMS.1101",), id="alias-empty"),
    pytest.param(b'{"key_alias": "a b"}', ("KMS.1101",), id="alias-bad-chars"),
    pytest.param(json.dumps({"key_alias": "a" * 256}).encode(), ("KMS.1101",), id="alias-too-long"),
    pytest.param(b'{"key_alias": "x/default"}', ("KMS.1101",), id="alias-default-suffix"),
    pytest.param(b'{"key_alias": "\\ud800"}', ("KMS.0202",), id="alias-lone-surrogate"),
    pytest.param(b'{"key_alias": "ok", "key_spec": 256}', ("KMS.1110",), id="spec-number"),
    pytest.param(b'{"key_alias": "ok", "key_spec": "AES_512"}', ("KMS.1110",), id="spec-unknown"),
    pytest.param(b'{"key_alias": "ok", "key_usage": false}', ("KMS.1110",), id="usage-bool"),
    pytest.param(
        b'{"key_alias": "ok", "key_spec": "EC_P256", "key_usage": "ENCRYPT_DECRYPT"}',
        ("KMS.1110", "KMS.1114"),
        id="ec-cannot-encrypt",
    ),
    pytest.param(
        b'{"key_alias": "ok", "key_spec": "AES_256", "key_usage": "SIGN_VERIFY"}',
        ("KMS.1110", "KMS.1115"),
        id="aes-cannot-sign",
    ),
    pytest.param(b'{"key_alias": "ok", "key_description": 7}', ("KMS.1103",), id="description-number"),
    pytest.param(
        json.dumps({"key_alias": "ok", "key_description": "d" * 256}).encode(), ("KMS.1103",), id="desc-long"
    ),
    pytest.param(b'{"key_alias": "ok", "sequence": 1}', ("KMS.0206", "KMS.0308"), id="sequence-number"),
    pytest.param(
        json.dumps({"key_alias": "ok", "sequence": "s" * 37}).encode(), ("KMS.0206",), id="sequence-long"
    ),
    pytest.param(b'{"key_alias": "ok", "origin": "cloud"}', ("KMS.0308",), id="origin-unknown"),
]


@pytest.mark.parametrize(("body", "codes"), BAD_CREATE_KEY_BODIES)
def test_bad_create_key_bodies(raw_api: Any, body: bytes, codes: tuple[str, ...]) -> None:
    reply = raw_api.request("POST", raw_api.path("create-key"), body)
    check_error(reply, 400, codes)


def _bad_datakey_bodies() -> list[Any]:
    def case(body: dict[str, Any], codes: tuple[str, ...] | None, id: str, **marks: Any) -> Any:
        return pytest.param(body, codes, id=id, **marks)

    return [
        case({"key_id": 123}, ("KMS.0205",), "key-id-number"),
        case({"key_id": "not-a-uuid"}, ("KMS.0205",), "key-id-malformed"),
        case({"key_id": "{key}".upper()}, ("KMS.0205",), "key-id-upper"),
        case({"key_id": "{key}", "datakey_length": 512}, ("KMS.1901", "KMS.0308"), "length-number"),
        case({"key_id": "{key}", "datakey_length": "abc"}, ("KMS.1901", "KMS.0308"), "length-text"),
        case({"key_id": "{key}", "datakey_length": ""}, ("KMS.1901", "KMS.0308"), "length-empty"),
        case({"key_id": "{key}", "datakey_length": "0"}, ("KMS.1901",), "length-zero"),
        case({"key_id": "{key}", "datakey_length": "-8"}, ("KMS.1901", "KMS.0308"), "length-negative"),
        case({"key_id": "{key}", "datakey_length": "8200"}, ("KMS.1901",), "length-too-big"),
        case({"key_id": "{key}", "datakey_length": "12"}, ("KMS.1903",), "length-not-multiple-of-8"),
        case(
            {"key_id": "{key}", "datakey_length": "\u0665\u0661\u0662"},
            ("KMS.1901",),
            "length-arabic-indic-digits",
        ),
        case({"key_id": "{key}", "key_spec": "AES_512"}, ("KMS.1902",), "datakey-spec-unknown"),
        case({"key_id": "{key}", "additional_authenticated_data": 5}, ("KMS.0308",), "aad-number"),
        case({"key_id": "{key}", "additional_authenticated_data": "a" * 129}, ("KMS.0308",), "aad-too-long"),
        case({"key_id": "{key}", "encryption_context": "k=v"}, ("KMS.0208",), "context-string"),
        case({"key_id": "{key}", "encryption_context": {"k": 1}}, ("KMS.0208",), "context-number-value"),
        # A lone surrogate cannot be UTF-8: the body is refused at the edge, for every operation.
        case(
            {"key_id": "{key}", "encryption_context": {"k": "\ud800"}},
            ("KMS.0202",),
            "context-lone-surrogate",
        ),
    ]


def _substitute(value: Any, key_id: str) -> Any:
    if isinstance(value, str):
        return key_id.upper() if value == "{KEY}" else key_id if value == "{key}" else value
    if isinstance(value, dict):
        return {k: _substitute(v, key_id) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("payload", "codes"), _bad_datakey_bodies())
def test_bad_create_datakey_bodies(
    raw_api: Any, key_id: str, payload: dict[str, Any], codes: tuple[str, ...] | None
) -> None:
    # json.dumps escapes a lone surrogate as \ud800, as the SDK's simplejson does
    body = json.dumps(_substitute(payload, key_id)).encode()
    check_error(raw_api.request("POST", raw_api.path("create-datakey"), body), 400, codes)


@pytest.mark.parametrize(
    ("changes", "codes"),
    [
        pytest.param({"cipher_text": 1234}, ("KMS.2201",), id="cipher-number"),
        pytest.param({"cipher_text": "ZZZZ"}, ("KMS.2201",), id="cipher-not-hex"),
        pytest.param({"cipher_text": "ABC"}, ("KMS.2201",), id="cipher-odd-length"),
        pytest.param({"cipher_text": ""}, ("KMS.2201", "KMS.0204"), id="cipher-empty"),
        pytest.param({"cipher_text": "00" * 200}, ("KMS.2201",), id="cipher-zeros"),
        pytest.param({"cipher_text": "0200" + "00" * 5000}, ("KMS.2201",), id="cipher-too-long"),
        pytest.param({"datakey_cipher_length": 64}, ("KMS.2202", "KMS.0308"), id="length-number"),
        pytest.param({"datakey_cipher_length": "0"}, ("KMS.2202",), id="length-zero"),
        pytest.param({"datakey_cipher_length": "1025"}, ("KMS.2202",), id="length-too-big"),
        pytest.param({"datakey_cipher_length": "abc"}, ("KMS.2202",), id="length-text"),
        pytest.param({"datakey_cipher_length": None}, ("KMS.2202", "KMS.0204"), id="length-null"),
        pytest.param({"key_id": ["x"]}, ("KMS.0205",), id="key-id-list"),
    ],
)
def test_bad_decrypt_datakey_bodies(
    raw_api: Any, key_id: str, changes: dict[str, Any], codes: tuple[str, ...]
) -> None:
    created = raw_api.post_ok("create-datakey", {"key_id": key_id, "datakey_length": "512"})
    payload = {"key_id": key_id, "cipher_text": created["cipher_text"], "datakey_cipher_length": "64"}
    payload.update(changes)
    check_error(raw_api.post("decrypt-datakey", payload), 400, codes)


@pytest.mark.parametrize("operation", ["create-key", "create-datakey", "decrypt-datakey"])
def test_missing_body_fields(raw_api: Any, operation: str) -> None:
    check_error(raw_api.request("POST", raw_api.path(operation), b""), 400, "KMS.0204")


@pytest.mark.parametrize("operation", ["create-key", "create-datakey", "decrypt-datakey"])
def test_body_over_64_kib_is_message_too_long(raw_api: Any, operation: str) -> None:
    # Valid JSON, just too long: the limit applies before any parsing
    body = json.dumps({"key_alias": "big", "key_description": "x" * MAX_BODY_BYTES}).encode()
    assert len(body) > MAX_BODY_BYTES
    check_error(raw_api.request("POST", raw_api.path(operation), body), 400, "KMS.0203")


def test_body_just_under_the_limit_is_parsed(raw_api: Any) -> None:
    padding = MAX_BODY_BYTES - len(json.dumps({"key_alias": "ok", "vm_id": ""})) - 64
    body = json.dumps({"key_alias": "ok", "vm_id": "", "key_description": "x" * padding}).encode()
    assert len(body) < MAX_BODY_BYTES
    # Then it is not "too long": the description's own limit answers
    check_error(raw_api.request("POST", raw_api.path("create-key"), body), 400, "KMS.1103")


def test_announced_body_far_over_the_limit_is_refused_unread(raw_api: Any) -> None:
    # Given a request that announces 2 MiB and sends none of it
    conn = raw_api.connect()
    try:
        conn.putrequest("POST", raw_api.path("create-key"), skip_host=True, skip_accept_encoding=True)
        for name, value in raw_api.signed_headers("POST", raw_api.path("create-key"), b"").items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(2 * 1024 * 1024))
        conn.endheaders()
        response = conn.getresponse()
        status, request_id, body = response.status, response.headers.get("X-Request-Id"), response.read()
    finally:
        conn.close()
    # Then the server answers at once instead of waiting for the body
    assert status in (400, 413)
    assert request_id
    assert json.loads(body)["error"]["error_code"] == "KMS.0203"


# -- routing: wrong method, unknown path ---------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    [
        "GET",
        "PUT",
        "DELETE",
        "PATCH",
        "OPTIONS",
        "TRACE",
        "PROPFIND",
    ],
)
def test_wrong_method_is_405(raw_api: Any, method: str) -> None:
    check_error(raw_api.request(method, raw_api.path("create-key")), 405, "KMS.0215")


@pytest.mark.parametrize(
    "path",
    [
        "/v1.0/{project}/kms/no-such-operation",
        "/v1.0/{project}/kms/create-key/extra",
        "/v1.0/{project}/kms",
        "/v1.0/{project}/create-key",
        "/v2.0/{project}/kms/create-key",
        "/kms/create-key",
        "/no/such/path",
    ],
)
def test_unknown_path_is_404(raw_api: Any, path: str) -> None:
    reply = raw_api.request("POST", path.format(project=raw_api.credentials.project_id), b"{}")
    check_error(reply, 404)


# -- connections ---------------------------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection(raw_api: Any, key_id: str) -> None:
    conn = raw_api.connect()
    try:
        # Given one TCP connection
        first = check_reply(
            raw_api.post("create-key", {"key_alias": f"ka-{uuid.uuid4().hex[:8]}"}, connection=conn)
        )
        sock = conn.sock
        assert sock is not None, "the server closed the connection after a 200"
        # When more requests follow on it, an error among them
        error = check_reply(raw_api.post("create-key", {}, connection=conn))
        assert conn.sock is sock, "the server closed the connection after a 400"
        second = check_reply(raw_api.post("create-datakey", {"key_id": key_id}, connection=conn))
        # Then each got its own answer over the very same socket
        assert conn.sock is sock
        assert (first.status, error.status, second.status) == (200, 400, 200)
        assert first.headers.get("Connection", "").lower() != "close"
        assert second.json()["key_id"] == key_id
    finally:
        conn.close()


def test_chunked_request_body_does_not_desync_the_connection(raw_api: Any) -> None:
    body = json.dumps({"key_alias": f"chunked-{uuid.uuid4().hex[:8]}"}).encode()
    path = raw_api.path("create-key")
    headers = raw_api.signed_headers("POST", path, body, {"Transfer-Encoding": "chunked"})
    conn = raw_api.connect()
    try:
        conn.request("POST", path, body=iter([body]), headers=headers, encode_chunked=True)
        response = conn.getresponse()
        first = (response.status, response.headers, response.read())
        # Either the body is read (200), or the request is refused and the connection closed
        assert first[0] == 200 or (400 <= first[0] < 500 and response.will_close), first
        assert first[1].get("X-Request-Id")
        if first[0] == 200:
            assert "key_info" in json.loads(first[2])
        if not response.will_close:
            follow = raw_api.post(
                "create-key", {"key_alias": f"after-{uuid.uuid4().hex[:8]}"}, connection=conn
            )
            assert follow.status == 200, follow.body
    finally:
        conn.close()


# -- slow and hostile clients (issue 15 item 3) --------------------------------------------------


def test_skms_serve_closes_stalled_connections_at_its_configured_timeouts(
    start_server: Any, raw_api_factory: Any
) -> None:
    # Given `skms serve` with 1-second header and body timeouts (KMS_SERVE_*)
    server = start_server(
        name="timeouts", env={"KMS_SERVE_HEADER_TIMEOUT_SECONDS": "1", "KMS_SERVE_BODY_TIMEOUT_SECONDS": "1"}
    )
    api = raw_api_factory(server.base_url)
    address = ("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))
    started = time.monotonic()
    # When 20 connections send nothing, and one announces a longer body than it sends
    idle = [socket.create_connection(address, timeout=10) for _ in range(20)]
    short = socket.create_connection(address, timeout=10)
    try:
        path = api.path("create-key")
        head = f"POST {path} HTTP/1.1\r\nHost: {address[0]}\r\nContent-Length: 64\r\n\r\n"
        short.sendall(head.encode() + b'{"key_alias": ')
        # Then a normal request is answered meanwhile
        assert api.post("create-key", {"key_alias": f"stall-{uuid.uuid4().hex[:8]}"}).status == 200
        # And the short body is answered 400 KMS.0202, the idle connections closed, in time
        answer = b"".join(iter(lambda: short.recv(65536), b""))
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["error_code"] == "KMS.0202"
        for sock in idle:
            assert sock.recv(1) == b""
        assert time.monotonic() - started < 1 + 8  # the timeout, and a generous margin
    finally:
        for sock in [*idle, short]:
            sock.close()
