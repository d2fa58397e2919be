"""Generation of CMK key material and the public half of asymmetric keys.

Material layout per spec (what the root key wraps):
- AES_256: 32 random bytes; SM4: 16 random bytes.
- HMAC_256 / HMAC_384 / HMAC_512: 32 / 48 / 64 random bytes (the hash's output size); HMAC_SM3: 32.
- RSA_*, EC_*, SECP256K1, ED25519: the private key as PKCS#8 DER (RFC 5208; RFC 8410 for Ed25519).
- SM2: private scalar (32) || public point X||Y (64), see :mod:`skms.crypto.sm2`.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from skms.crypto import sm2
from skms.crypto.keyspec import KeySpec

_RSA_BITS = {KeySpec.RSA_2048: 2048, KeySpec.RSA_3072: 3072, KeySpec.RSA_4096: 4096}
_EC_CURVES: dict[KeySpec, ec.EllipticCurve] = {
    KeySpec.EC_P256: ec.SECP256R1(),
    KeySpec.EC_P384: ec.SECP384R1(),
    KeySpec.SECP256K1: ec.SECP256K1(),
}
SYMMETRIC_LEN = {KeySpec.AES_256: 32, KeySpec.SM4: 16}
HMAC_LEN = {KeySpec.HMAC_256: 32, KeySpec.HMAC_384: 48, KeySpec.HMAC_512: 64, KeySpec.HMAC_SM3: 32}


def generate(spec: KeySpec) -> bytes:
    if spec in SYMMETRIC_LEN:
        return os.urandom(SYMMETRIC_LEN[spec])
    if spec in HMAC_LEN:
        return os.urandom(HMAC_LEN[spec])
    if spec is KeySpec.SM2:
        return sm2.generate()
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if spec.is_rsa:
        private = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[spec])
    elif spec is KeySpec.ED25519:
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        private = ec.generate_private_key(_EC_CURVES[spec])
    return private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(spec: KeySpec, material: bytes) -> str | None:
    """PEM SubjectPublicKeyInfo of an asymmetric key; None for symmetric and HMAC keys."""
    if spec.is_symmetric or spec.is_hmac:
        return None
    if spec is KeySpec.SM2:
        return sm2.public_key_pem(sm2.split(material)[1])
    private = serialization.load_der_private_key(material, password=None)
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
