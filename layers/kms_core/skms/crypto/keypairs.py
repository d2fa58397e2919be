"""Data key pairs (spec §4 ops 17-18): a fresh asymmetric key pair, in standard DER.

Encodings, the same for every spec so any outside library reads them:

- public key: DER X.509 SubjectPublicKeyInfo (RFC 5280), the form derive-shared-secret takes;
- private key: DER PKCS#8 PrivateKeyInfo (RFC 5208), unencrypted. EC keys hold an RFC 5915
  ECPrivateKey with the public point and without the (redundant) curve parameters, as OpenSSL
  writes them.

``cryptography`` has no SM2 curve, so SM2 pairs come from GmSSL (:mod:`skms.crypto.sm2`) and are
framed here. Their DER is fixed-length: id-ecPublicKey with the curve sm2p256v1
(1.2.156.10197.1.301), exactly what ``openssl genpkey -algorithm SM2`` then ``openssl pkcs8
-topk8 -nocrypt`` produce (tests/unit/crypto/test_keypairs.py checks both directions).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from skms.crypto import sm2
from skms.crypto.secret_bytes import SecretBytes


class PairSpec(enum.StrEnum):
    """Key pair specs by their wire names (§4 ops 17-18; not the CMK names of :mod:`keyspec`)."""

    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    ECC_NIST_P256 = "ECC_NIST_P256"
    ECC_NIST_P384 = "ECC_NIST_P384"
    ECC_NIST_P521 = "ECC_NIST_P521"
    ECC_SECG_P256K1 = "ECC_SECG_P256K1"
    SM2 = "SM2"


RSA_PUBLIC_EXPONENT = 65537
RSA_BITS = {PairSpec.RSA_2048: 2048, PairSpec.RSA_3072: 3072, PairSpec.RSA_4096: 4096}
EC_CURVES: dict[PairSpec, type[ec.EllipticCurve]] = {
    PairSpec.ECC_NIST_P256: ec.SECP256R1,
    PairSpec.ECC_NIST_P384: ec.SECP384R1,
    PairSpec.ECC_NIST_P521: ec.SECP521R1,
    PairSpec.ECC_SECG_P256K1: ec.SECP256K1,
}

# SM2 PrivateKeyInfo, 138 bytes:
#   SEQUENCE(135) { INTEGER 0, SEQUENCE { id-ecPublicKey, sm2p256v1 },
#     OCTET STRING(109) { SEQUENCE(107) { INTEGER 1, OCTET STRING(32) d,
#       [1] { BIT STRING { 00 04 || X || Y } } } } }
SM2_PKCS8_PREFIX = bytes.fromhex("308187020100301306072a8648ce3d020106082a811ccf5501822d046d306b0201010420")
SM2_PKCS8_MIDDLE = bytes.fromhex("a14403420004")
SM2_PKCS8_LEN = len(SM2_PKCS8_PREFIX) + sm2.PRIVATE_LEN + len(SM2_PKCS8_MIDDLE) + sm2.PUBLIC_LEN


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A generated pair. ``private_der`` is secret: it prints redacted."""

    spec: PairSpec
    public_der: bytes
    private_der: SecretBytes


def generate(spec: PairSpec) -> KeyPair:
    """A fresh key pair of ``spec`` (RSA keys use e = 65537)."""
    if spec is PairSpec.SM2:
        private, public = sm2.split(sm2.generate())
        return KeyPair(spec, sm2.public_key_der(public), SecretBytes(sm2_pkcs8(private, public)))
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if spec in RSA_BITS:
        key = rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_BITS[spec])
    else:
        key = ec.generate_private_key(EC_CURVES[spec]())
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyPair(spec, public_der, SecretBytes(private_der))


def sm2_pkcs8(private: bytes, public: bytes) -> bytes:
    """PKCS#8 DER of an SM2 key: 32-byte private scalar, 64-byte public point X||Y."""
    if len(private) != sm2.PRIVATE_LEN or len(public) != sm2.PUBLIC_LEN:
        raise ValueError("SM2 keys are a 32-byte scalar and a 64-byte point")
    return SM2_PKCS8_PREFIX + private + SM2_PKCS8_MIDDLE + public


def sm2_from_pkcs8(der: bytes) -> tuple[bytes, bytes]:
    """(private scalar, public point X||Y) of an SM2 PKCS#8 DER as :func:`sm2_pkcs8` writes it."""
    middle_at = len(SM2_PKCS8_PREFIX) + sm2.PRIVATE_LEN
    if (
        len(der) != SM2_PKCS8_LEN
        or not der.startswith(SM2_PKCS8_PREFIX)
        or der[middle_at : middle_at + len(SM2_PKCS8_MIDDLE)] != SM2_PKCS8_MIDDLE
    ):
        raise ValueError("not an SM2 PKCS#8 private key")
    return der[len(SM2_PKCS8_PREFIX) : middle_at], der[middle_at + len(SM2_PKCS8_MIDDLE) :]
