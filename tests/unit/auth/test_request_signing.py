"""The SDK-HMAC-SHA256 signature (spec §F6), checked against the spec's own test vector."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

import pytest

from skms.auth import request_signing

# Spec §F6 "Test vector (produced with the SDK's own Signer)"
VECTOR_HEADERS = {
    "content-type": "application/json;charset=utf-8",
    "host": "127.0.0.1:3000",
    "user-agent": "huaweicloud-usdk-python/3.0",
    "x-project-id": "proj123",
    "x-sdk-date": "20240101T000000Z",
}
VECTOR_SIGNED = ("content-type", "host", "user-agent", "x-project-id", "x-sdk-date")
VECTOR_BODY = b'{"key_alias": "test"}'
VECTOR_PATH = "/v1.0/proj123/kms/create-key"
VECTOR_CANONICAL = (
    "POST\n/v1.0/proj123/kms/create-key/\n\ncontent-type:application/json;charset=utf-8\nhost:127.0.0.1:3000\n"
    "user-agent:huaweicloud-usdk-python/3.0\nx-project-id:proj123\nx-sdk-date:20240101T000000Z\n\n"
    "content-type;host;user-agent;x-project-id;x-sdk-date\n"
    "9c0186efb92bbffca3fd4b3451737f877b0336f04270715253517a9df851e7aa"
)
VECTOR_STRING_TO_SIGN = (
    "SDK-HMAC-SHA256\n20240101T000000Z\n7d144c3bafc8b4e240f3a950a8bad5fc57db12140bb87d1ca841a471028b97d9"
)
VECTOR_SIGNATURE = "9ce22768b286a0d0f21f05a4fa24fc30681875d67a51925cc4357d4806eb949e"
VECTOR_NOW = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
AUTHORIZATION = (
    f"SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders={';'.join(VECTOR_SIGNED)}, Signature={VECTOR_SIGNATURE}"
)


def _verify(**changes: object) -> None:
    arguments: dict[str, object] = {
        "authorization": request_signing.parse_authorization(AUTHORIZATION),
        "secret_key": b"SKEXAMPLE",
        "method": "POST",
        "raw_path": VECTOR_PATH,
        "query_pairs": [],
        "headers": VECTOR_HEADERS,
        "body": VECTOR_BODY,
        "now": VECTOR_NOW,
    }
    arguments.update(changes)
    request_signing.verify(**arguments)  # type: ignore[arg-type]


def test_the_spec_vector_reproduces_step_by_step() -> None:
    canonical = request_signing.canonical_request(
        method="POST",
        raw_path=VECTOR_PATH,
        query_pairs=[],
        headers=VECTOR_HEADERS,
        signed_headers=VECTOR_SIGNED,
        body=VECTOR_BODY,
    )
    assert canonical == VECTOR_CANONICAL
    assert request_signing.string_to_sign(canonical, "20240101T000000Z") == VECTOR_STRING_TO_SIGN
    assert request_signing.sign(b"SKEXAMPLE", VECTOR_STRING_TO_SIGN) == VECTOR_SIGNATURE


def test_the_spec_vector_verifies() -> None:
    _verify()


@pytest.mark.parametrize(
    "changes",
    [
        {"secret_key": b"SKEXAMPLF"},
        {"body": b'{"key_alias": "tesT"}'},
        {"body": b""},
        {"method": "PUT"},
        {"raw_path": "/v1.0/proj123/kms/create-datakey"},
        {"raw_path": "/v1.0/proj124/kms/create-key"},
        {"query_pairs": [("a", "b")]},
        {"headers": {**VECTOR_HEADERS, "x-project-id": "other"}},
        {"headers": {**VECTOR_HEADERS, "host": "127.0.0.1:3001"}},
        {"headers": {**VECTOR_HEADERS, "x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}},
    ],
    ids=[
        "secret",
        "body",
        "empty-body",
        "method",
        "operation",
        "project",
        "query",
        "signed-header",
        "host",
        "unsigned-payload",
    ],
)
def test_anything_changed_after_signing_is_rejected(changes: dict[str, object]) -> None:
    with pytest.raises(request_signing.SignatureError):
        _verify(**changes)


@pytest.mark.parametrize("skew", [timedelta(minutes=16), timedelta(minutes=-16), timedelta(days=365)])
def test_stale_or_future_dates_are_rejected(skew: timedelta) -> None:
    with pytest.raises(request_signing.SignatureError, match="expired"):
        _verify(now=datetime(2024, 1, 1, tzinfo=UTC) + skew)


@pytest.mark.parametrize(
    "sdk_date",
    [
        "2024111T120500Z",  # a short month-day: strptime would take it
        "20240101T000000",
        "20241301T000000Z",
        "20240101T240000Z",
        "\uff12\uff10\uff12\uff14" + "0101T000000Z",  # full-width digits
        "20240101T000000Z\n",
        " 20240101T000000Z",
        "",
    ],
)
def test_malformed_dates_are_rejected(sdk_date: str) -> None:
    with pytest.raises(request_signing.SignatureError, match="Malformed"):
        request_signing.check_date(sdk_date, now=datetime(2024, 1, 1, tzinfo=UTC))


def test_dates_within_fifteen_minutes_are_accepted() -> None:
    _verify(now=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=14, seconds=59))
    _verify(now=datetime(2024, 1, 1, tzinfo=UTC) - timedelta(minutes=14, seconds=59))


def test_host_and_date_must_be_signed() -> None:
    unsigned_host = AUTHORIZATION.replace("host;", "")
    with pytest.raises(request_signing.SignatureError, match="must be signed"):
        _verify(authorization=request_signing.parse_authorization(unsigned_host))


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Basic abc",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date;host, Signature=" + "0" * 64,
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=Host;x-sdk-date, Signature=" + "0" * 64,
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=" + "0" * 63,
        "V11-HMAC-SHA256 Credential=AK/20240101/r/s, SignedHeaders=host, Signature=" + "0" * 64,
    ],
)
def test_malformed_authorization_headers_are_rejected(header: str) -> None:
    with pytest.raises(request_signing.SignatureError):
        request_signing.parse_authorization(header)


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/", "/"),
        ("/v1.0/p/kms/create-key", "/v1.0/p/kms/create-key/"),
        ("/v1.0/p/kms/k/tags/a%2Fb", "/v1.0/p/kms/k/tags/a/b/"),
        ("/v1.0/p/kms/k/tags/a%20b", "/v1.0/p/kms/k/tags/a%20b/"),
        ("/v1.0/p/kms/k/tags/a~b", "/v1.0/p/kms/k/tags/a~b/"),
    ],
)
def test_canonical_uri(path: str, canonical: str) -> None:
    # §F6 step 2: decode all, split on '/', quote each segment with safe='~', trailing '/'.
    assert request_signing.canonical_uri(path) == canonical


def test_canonical_query_sorts_and_encodes() -> None:
    assert request_signing.canonical_query([("b", "2"), ("a", "x y"), ("a", "1")]) == "a=1&a=x%20y&b=2"


@pytest.mark.parametrize("key_length", [0, 1, 9, 40, 63, 64, 65, 128, 200])
@pytest.mark.parametrize(
    "message",
    ["", VECTOR_STRING_TO_SIGN, "\u00e9t\u00e9 \u4e2d\u6587", "x" * 5000],
    ids=["empty", "vector", "non-ascii", "over-2KiB"],
)
def test_a_signing_secret_signs_as_hmac_does(key_length: int, message: str) -> None:
    # Keys shorter than, as long as and longer than SHA-256's 64-byte block (hashed first).
    key = bytes((7 * i + 3) % 256 for i in range(key_length))
    expected = hmac.digest(key, message.encode("utf-8"), "sha256").hex()
    secret = request_signing.SigningSecret(key)
    assert secret.sign(message) == expected
    assert secret.sign(message) == expected  # the kept states are copied, never consumed
    assert request_signing.sign(key, message) == expected


def test_a_signing_secret_reproduces_the_spec_vector_and_is_its_bytes() -> None:
    secret = request_signing.SigningSecret(b"SKEXAMPLE")
    assert secret.sign(VECTOR_STRING_TO_SIGN) == VECTOR_SIGNATURE
    assert secret == b"SKEXAMPLE"
    assert request_signing.signing_secret(secret) is secret  # not rebuilt per request
    assert "SKEXAMPLE" not in repr(secret)
    assert "SKEXAMPLE" not in str(secret)
    assert "SKEXAMPLE" not in f"{secret!r} {[secret]}"


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=15), True),
        (-timedelta(minutes=15), True),
        (timedelta(minutes=15, microseconds=1), False),
        (-timedelta(minutes=15, microseconds=1), False),
    ],
    ids=["15-min-after", "15-min-before", "just-after", "just-before"],
)
def test_the_window_is_fifteen_minutes_to_the_microsecond(offset: timedelta, accepted: bool) -> None:
    signed_at = datetime(2024, 1, 1, tzinfo=UTC)
    if accepted:
        request_signing.check_date("20240101T000000Z", now=signed_at + offset)
    else:
        with pytest.raises(request_signing.SignatureError, match="expired"):
            request_signing.check_date("20240101T000000Z", now=signed_at + offset)


def test_the_window_is_checked_against_the_clock_on_every_call() -> None:
    now = datetime.now(UTC)
    fresh = now.strftime(request_signing.DATE_FORMAT)
    stale = (now - timedelta(minutes=16)).strftime(request_signing.DATE_FORMAT)
    for _ in range(2):  # the parse of a date is remembered; the decision is not
        request_signing.check_date(fresh)
        with pytest.raises(request_signing.SignatureError, match="expired"):
            request_signing.check_date(stale)


@pytest.mark.parametrize(
    "signed",
    ["host;;x-sdk-date", ";host;x-sdk-date", "host;x-sdk-date;", "Host;x-sdk-date", "x-sdk-date;host"],
)
def test_malformed_signed_headers_are_rejected_every_time(signed: str) -> None:
    header = f"SDK-HMAC-SHA256 Access=AK, SignedHeaders={signed}, Signature={'0' * 64}"
    for _ in range(2):  # the check of a SignedHeaders value is remembered only when it passes
        with pytest.raises(request_signing.SignatureError, match="Malformed SignedHeaders"):
            request_signing.parse_authorization(header)


def test_a_parsed_authorization_names_its_parts() -> None:
    parsed = request_signing.parse_authorization(
        AUTHORIZATION.replace(VECTOR_SIGNATURE, VECTOR_SIGNATURE.upper())
    )
    assert parsed.access_key == "AKEXAMPLE"
    assert parsed.signed_headers == VECTOR_SIGNED
    assert parsed.signature == VECTOR_SIGNATURE  # lower-cased, as the expected signature is
    assert request_signing.parse_authorization(AUTHORIZATION) == parsed
