"""SM2 (GB/T 32918) through GmSSL's native implementation (``gmssl_pyx``).

``cryptography`` has no SM2 curve, so GmSSL is used here (and, for prehashed SM2 signatures
and encryption, in :mod:`skms.crypto.signing` and :mod:`skms.crypto.asymmetric`).
Keys are raw: a 32-byte private scalar and a 64-byte public point X||Y. Signatures use SM3 with
the default distinguishing ID ``1234567812345678`` (GB/T 35276), which is what OpenSSL uses when
given ``-pkeyopt distid:1234567812345678``; tests/unit/crypto/test_sm2_openssl.py proves both directions.
"""

from __future__ import annotations

import base64
from typing import cast

import gmssl_pyx

PRIVATE_LEN = 32
PUBLIC_LEN = 64
MATERIAL_LEN = PRIVATE_LEN + PUBLIC_LEN
DEFAULT_ID = b"1234567812345678"

# SubjectPublicKeyInfo DER up to the point: SEQUENCE { SEQUENCE { id-ecPublicKey, sm2p256v1 },
# BIT STRING { 00 04 || X || Y } }. The point is always 65 bytes uncompressed, so the prefix is fixed.
SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")


def generate() -> bytes:
    """Fresh key material: private(32) || public(64)."""
    public, private = gmssl_pyx.sm2_key_generate()
    return bytes(private) + bytes(public)


def split(material: bytes) -> tuple[bytes, bytes]:
    if len(material) != MATERIAL_LEN:
        raise ValueError("SM2 material must be 96 bytes")
    return material[:PRIVATE_LEN], material[PRIVATE_LEN:]


def public_key_der(public: bytes) -> bytes:
    if len(public) != PUBLIC_LEN:
        raise ValueError("SM2 public key must be 64 bytes")
    return SPKI_PREFIX + public


def public_key_from_der(der: bytes) -> bytes:
    if len(der) != len(SPKI_PREFIX) + PUBLIC_LEN or not der.startswith(SPKI_PREFIX):
        raise ValueError("not an SM2 SubjectPublicKeyInfo")
    return der[len(SPKI_PREFIX) :]


def public_key_pem(public: bytes) -> str:
    b64 = base64.b64encode(public_key_der(public)).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


def sign(material: bytes, message: bytes) -> bytes:
    """DER-encoded SM2 signature over SM3(Z_A || message)."""
    private, public = split(material)
    return cast(bytes, gmssl_pyx.sm2_sign(private, public, message, signer_id=DEFAULT_ID))


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        return bool(gmssl_pyx.sm2_verify(public, message, signature, signer_id=DEFAULT_ID))
    except (gmssl_pyx.InvalidValueError, gmssl_pyx.GmsslInnerError, ValueError):
        return False
