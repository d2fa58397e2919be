"""Tokens for ``X-Auth-Token``: tamper-evident, expiring, verifiable without a database lookup.

Layout: ``skms1.<payload>.<mac>`` where payload is base64url (no padding) of compact JSON
``{"v":1,"dom","prj","usr","iat","exp","jti"}`` and mac is base64url of HMAC-SHA256 under the
service's token key over ``skms1.<payload>``. The MAC is checked (constant time) before the
payload is parsed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

PREFIX = "skms1"
TOKEN_LIFETIME_SECONDS = 24 * 3600  # like IAM tokens
MAX_TOKEN_CHARS = 4096
TOKEN_KEY_LEN = 32


class TokenError(Exception):
    """Invalid or expired token. The message is safe to return to the caller."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    domain_id: str
    project_id: str
    user: str
    issued_at: int
    expires_at: int
    token_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed_part: str) -> bytes:
    return hmac.new(key, signed_part.encode("ascii"), hashlib.sha256).digest()


def issue(
    key: bytes, *, domain_id: str, project_id: str, user: str, now: int | None = None
) -> tuple[str, TokenClaims]:
    if len(key) != TOKEN_KEY_LEN:
        raise ValueError("token key must be 32 bytes")
    issued = int(time.time()) if now is None else now
    claims = TokenClaims(
        domain_id, project_id, user, issued, issued + TOKEN_LIFETIME_SECONDS, secrets.token_hex(16)
    )
    payload = {
        "v": 1,
        "dom": claims.domain_id,
        "prj": claims.project_id,
        "usr": claims.user,
        "iat": claims.issued_at,
        "exp": claims.expires_at,
        "jti": claims.token_id,
    }
    signed_part = f"{PREFIX}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
    return f"{signed_part}.{_b64(_mac(key, signed_part))}", claims


def verify(key: bytes, token: str, now: int | None = None) -> TokenClaims:
    if len(token) > MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 2:
        raise TokenError("The token is invalid.")
    prefix, payload_b64, mac_b64 = token.split(".")
    if prefix != PREFIX:
        raise TokenError("The token is invalid.")
    # Compare the canonical text of the MAC, not decoded bytes: base64 has spare bits, and a
    # token must have exactly one accepted spelling.
    expected = _b64(_mac(key, f"{prefix}.{payload_b64}"))
    if not hmac.compare_digest(expected.encode("ascii"), mac_b64.encode("ascii", "replace")):
        raise TokenError("The token is invalid.")
    try:
        payload = json.loads(_unb64(payload_b64))
        claims = TokenClaims(
            str(payload["dom"]),
            str(payload["prj"]),
            str(payload["usr"]),
            int(payload["iat"]),
            int(payload["exp"]),
            str(payload["jti"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise TokenError("The token is invalid.") from None
    if (int(time.time()) if now is None else now) >= claims.expires_at:
        raise TokenError("The token has expired.")
    return claims
