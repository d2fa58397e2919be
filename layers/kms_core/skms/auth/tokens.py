"""Tokens for ``X-Auth-Token``: tamper-evident, expiring, verifiable without a database lookup.

Layout: ``skms2.<kid>.<payload>.<mac>`` where ``kid`` is the decimal number of the token-signing
key that signed it (the key can be rotated: see :mod:`skms.auth.principals`), payload is base64url
(no padding) of compact JSON ``{"v":2,"dom","dnm","prj","usr","uid","ep","iat","exp","jti"}``
(domain id and name, project, user name and id, the user's token epoch) and mac is base64url of
HMAC-SHA256 under that key over ``skms2.<kid>.<payload>``. The MAC is checked (constant time)
before the payload is parsed. Whether the user still exists, is enabled and still has the token's
epoch is the authorizer's check (it needs the store).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

PREFIX = "skms2"
TOKEN_LIFETIME_SECONDS = 24 * 3600  # like IAM tokens
MAX_TOKEN_CHARS = 4096
TOKEN_KEY_LEN = 32
MAX_KEY_ID = 10**6

# The key that signed a token, by its number (None: no such key, or one no longer accepted).
KeyLookup = Callable[[int], bytes | None]


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
    user_id: str = ""
    domain_name: str = ""
    epoch: int = 0
    key_id: int = 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed_part: str) -> bytes:
    return hmac.new(key, signed_part.encode("ascii"), hashlib.sha256).digest()


def issue(
    key: bytes,
    *,
    domain_id: str,
    project_id: str,
    user: str,
    user_id: str = "",
    domain_name: str = "",
    epoch: int = 0,
    key_id: int = 1,
    now: int | None = None,
) -> tuple[str, TokenClaims]:
    if len(key) != TOKEN_KEY_LEN:
        raise ValueError("token key must be 32 bytes")
    if not 1 <= key_id <= MAX_KEY_ID:
        raise ValueError("token key id out of range")
    issued = int(time.time()) if now is None else now
    claims = TokenClaims(
        domain_id,
        project_id,
        user,
        issued,
        issued + TOKEN_LIFETIME_SECONDS,
        secrets.token_hex(16),
        user_id=user_id,
        domain_name=domain_name or domain_id,
        epoch=epoch,
        key_id=key_id,
    )
    payload = {
        "v": 2,
        "dom": claims.domain_id,
        "dnm": claims.domain_name,
        "prj": claims.project_id,
        "usr": claims.user,
        "uid": claims.user_id,
        "ep": claims.epoch,
        "iat": claims.issued_at,
        "exp": claims.expires_at,
        "jti": claims.token_id,
    }
    signed_part = f"{PREFIX}.{key_id}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
    return f"{signed_part}.{_b64(_mac(key, signed_part))}", claims


def verify(key: bytes | KeyLookup, token: str, now: int | None = None) -> TokenClaims:
    """The claims of a valid, unexpired token signed by ``key`` (or by the key ``key(kid)``
    returns for the token's key number)."""
    if len(token) > MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 3:
        raise TokenError("The token is invalid.")
    prefix, kid_text, payload_b64, mac_b64 = token.split(".")
    if prefix != PREFIX or not kid_text.isdigit() or len(kid_text) > 7 or kid_text != str(int(kid_text)):
        raise TokenError("The token is invalid.")
    key_id = int(kid_text)
    signing_key = key(key_id) if callable(key) else key
    if signing_key is None or not 1 <= key_id <= MAX_KEY_ID:
        raise TokenError("The token is invalid.")
    # Compare the canonical text of the MAC, not decoded bytes: base64 has spare bits, and a
    # token must have exactly one accepted spelling.
    expected = _b64(_mac(signing_key, f"{prefix}.{kid_text}.{payload_b64}"))
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
            user_id=str(payload["uid"]),
            domain_name=str(payload["dnm"]),
            epoch=int(payload["ep"]),
            key_id=key_id,
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise TokenError("The token is invalid.") from None
    if (int(time.time()) if now is None else now) >= claims.expires_at:
        raise TokenError("The token has expired.")
    return claims
