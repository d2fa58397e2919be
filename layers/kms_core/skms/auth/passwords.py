"""Password hashing with scrypt (memory-hard; stdlib ``hashlib``), verified in constant time.

Stored form: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``; parameters travel with the hash so they
can be raised later without invalidating old hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

N, R, P = 2**15, 8, 1  # 32 MiB of memory per hash
SALT_LEN, HASH_LEN = 16, 32
MAX_PASSWORD_BYTES = 1024
_MAXMEM = 128 * 1024 * 1024


def hash_password(password: str) -> str:
    raw = password.encode("utf-8")
    if not raw or len(raw) > MAX_PASSWORD_BYTES:
        raise ValueError("password must be 1-1024 bytes")
    salt = os.urandom(SALT_LEN)
    digest = hashlib.scrypt(raw, salt=salt, n=N, r=R, p=P, dklen=HASH_LEN, maxmem=_MAXMEM)
    return "$".join(
        ("scrypt", str(N), str(R), str(P), base64.b64encode(salt).decode(), base64.b64encode(digest).decode())
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, hash_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
        raw = password.encode("utf-8")[: MAX_PASSWORD_BYTES + 1]
        actual = hashlib.scrypt(
            raw, salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected), maxmem=_MAXMEM
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)
