"""The SDK's ``SDK-HMAC-SHA256`` request signature (spec §F6), rebuilt from what was received.

Verification never re-serialises anything: the canonical request is built from the received
method, raw path, raw query, the listed headers as sent, and the exact body bytes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MAX_CLOCK_SKEW = timedelta(minutes=15)
REQUIRED_SIGNED_HEADERS = frozenset({"host", "x-sdk-date"})

_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=(?P<access>[A-Za-z0-9]{1,128}),\s*SignedHeaders=(?P<headers>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-fA-F]{64})$"
)


class SignatureError(Exception):
    """The request is not validly signed. The message is safe to return to the caller."""


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization:
    found = _AUTHORIZATION.fullmatch(value.strip())
    if found is None:
        raise SignatureError("Malformed Authorization header.")
    signed = found["headers"]
    headers = tuple(signed.split(";"))
    # Every name non-empty and lower-case (no name changes under lower() iff their join does not).
    if "" in headers or signed != signed.lower() or list(headers) != sorted(headers):
        raise SignatureError("Malformed SignedHeaders.")
    return ParsedAuthorization(found["access"], headers, found["signature"].lower())


def fingerprint(authorization: ParsedAuthorization) -> str:
    """A name for one signed request (replay records, :mod:`skms.idempotency`) from which its
    signature cannot be recovered: the signature covers method, path, query, signed headers
    (X-Sdk-Date among them) and body, so equal fingerprints are the same request."""
    return hashlib.sha256(f"{authorization.access_key}\n{authorization.signature}".encode()).hexdigest()


@functools.lru_cache(maxsize=1024)  # a handful of paths per project, signed again and again
def canonical_uri(raw_path: str) -> str:
    """§F6 step 2: decode all, split on '/', RFC 3986-encode each segment, ensure a trailing '/'."""
    segments = [quote(segment, safe="~") for segment in unquote(raw_path).split("/")]
    joined = "/".join(segments)
    return joined if joined.endswith("/") else joined + "/"


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    """§F6 step 3: sorted by key then value, each part RFC 3986-encoded."""
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(pairs))


def canonical_request(
    *,
    method: str,
    raw_path: str,
    query_pairs: list[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
) -> str:
    """§F6 step 6. ``headers`` must have lower-case names."""
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_SHA256
    # The SDK only sends X-Sdk-Content-Sha256 (e.g. UNSIGNED-PAYLOAD) for non-JSON bodies, which KMS
    # never has. Accepting a literal would let a body be swapped under a valid signature.
    declared = headers.get("x-sdk-content-sha256")
    if declared is not None and declared.lower() != payload_hash:
        raise SignatureError("X-Sdk-Content-Sha256 does not match the body.")
    return "\n".join(
        (
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(query_pairs),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        )
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def sign(secret_key: bytes, to_sign: str) -> str:
    return hmac.digest(secret_key, to_sign.encode("utf-8"), "sha256").hex()  # OpenSSL's one-shot HMAC


# DATE_FORMAT with ASCII digits exactly (\d would take other scripts' digits too).
_SDK_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")


@functools.lru_cache(maxsize=256)  # requests signed within the same second carry the same text
def _signed_at(sdk_date: str) -> datetime:
    """The instant an X-Sdk-Date names (a pure function of the text: only the parse is remembered,
    the window is checked on every call); :class:`SignatureError` when it is malformed."""
    # A regex and datetime(): stricter than strptime (which takes "2024111T…") and 10x cheaper.
    match = _SDK_DATE.fullmatch(sdk_date)
    try:
        if match is None:
            raise ValueError(sdk_date)
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise SignatureError("Malformed X-Sdk-Date.") from None


def check_date(sdk_date: str, now: datetime | None = None) -> None:
    # This runs twice per request (authorizer and function).
    signed_at = _signed_at(sdk_date)
    now = now or datetime.now(UTC)
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureError("Signature expired: X-Sdk-Date is outside the allowed 15 minutes.")


def verify(
    *,
    authorization: ParsedAuthorization,
    secret_key: bytes,
    method: str,
    raw_path: str,
    query_pairs: list[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
) -> None:
    """Raise :class:`SignatureError` unless the request carries a valid, fresh signature."""
    verify_lowered(
        authorization=authorization,
        secret_key=secret_key,
        method=method,
        raw_path=raw_path,
        query_pairs=query_pairs,
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        now=now,
    )


def verify_lowered(
    *,
    authorization: ParsedAuthorization,
    secret_key: bytes,
    method: str,
    raw_path: str,
    query_pairs: list[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
) -> None:
    """:func:`verify` for ``headers`` whose names are all lower-case already."""
    lower = headers
    if not set(authorization.signed_headers) >= REQUIRED_SIGNED_HEADERS:
        raise SignatureError("host and x-sdk-date must be signed.")
    check_date(lower.get("x-sdk-date", ""), now)
    canonical = canonical_request(
        method=method,
        raw_path=raw_path,
        query_pairs=query_pairs,
        headers=lower,
        signed_headers=authorization.signed_headers,
        body=body,
    )
    expected = sign(secret_key, string_to_sign(canonical, lower["x-sdk-date"]))
    if not hmac.compare_digest(expected, authorization.signature):
        raise SignatureError("Incorrect IAM authentication information: verify aksk signature fail.")
