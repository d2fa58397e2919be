"""Encryption under an asymmetric CMK: RSAES-OAEP and SM2 (spec §4 ops 14-16).

The key is always the CMK material (:mod:`skms.crypto.material`): PKCS#8 DER for RSA, and
private(32) || public(64) for SM2. Encryption uses only the public half, derived from the
material rather than read from storage, so a substituted public key cannot redirect ciphertexts.

- RSAES-OAEP (PKCS#1 v2.2) with MGF1 over the same hash and an empty label. A k-byte modulus
  takes at most ``k - 2*hLen - 2`` plaintext bytes (190 for RSA_2048 with SHA-256).
- SM2 public-key encryption (GB/T 32918.4) through GmSSL: ASN.1 DER, C1C3C2 order, as GmSSL
  produces it. GmSSL takes 1-255 plaintext bytes.

Every decrypt failure is the one opaque :class:`CryptoError`; encryption of a plaintext that
does not fit raises ``ValueError`` (callers check :func:`max_plaintext_len` first).
"""

from __future__ import annotations

import enum
from typing import cast

import gmssl_pyx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from skms.crypto import sm2
from skms.crypto.errors import CryptoError

SM2_MIN_PLAINTEXT = 1
SM2_MAX_PLAINTEXT = 255
# GmSSL's bounds on a DER C1C3C2 ciphertext of 1-255 plaintext bytes.
SM2_MIN_CIPHERTEXT = 45
SM2_MAX_CIPHERTEXT = 366


class Algorithm(enum.Enum):
    """Asymmetric encryption schemes, by their wire names (spec §4 ops 14 and 16)."""

    RSAES_OAEP_SHA_1 = "RSAES_OAEP_SHA_1"
    RSAES_OAEP_SHA_256 = "RSAES_OAEP_SHA_256"
    SM2_ENCRYPT = "SM2_ENCRYPT"

    @property
    def is_rsa(self) -> bool:
        return self is not Algorithm.SM2_ENCRYPT


def _oaep_hash(algorithm: Algorithm) -> hashes.HashAlgorithm:
    # SHA-1 inside OAEP/MGF1 needs no collision resistance; §4 op 16 names RSAES_OAEP_SHA_1.
    return hashes.SHA1() if algorithm is Algorithm.RSAES_OAEP_SHA_1 else hashes.SHA256()  # noqa: S303


def _oaep(algorithm: Algorithm) -> padding.OAEP:
    digest = _oaep_hash(algorithm)
    return padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)


def _rsa_private(material: bytes) -> rsa.RSAPrivateKey:
    # The material was generated here and reaches us only through the root key's AEAD unwrap, so
    # OpenSSL's full RSA consistency check (about 50 ms for RSA_2048, 170 ms for RSA_3072) is skipped.
    private = serialization.load_der_private_key(material, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError("not RSA key material")
    return private


def max_plaintext_len(algorithm: Algorithm, material: bytes) -> int:
    """The largest plaintext, in bytes, that ``algorithm`` encrypts under this key."""
    if algorithm is Algorithm.SM2_ENCRYPT:
        sm2.split(material)
        return SM2_MAX_PLAINTEXT
    modulus_bytes = (_rsa_private(material).key_size + 7) // 8
    return modulus_bytes - 2 * _oaep_hash(algorithm).digest_size - 2


def encrypt(algorithm: Algorithm, material: bytes, plaintext: bytes) -> bytes:
    """Encrypt with the public half of ``material``. ``ValueError`` if the plaintext does not fit."""
    if algorithm is Algorithm.SM2_ENCRYPT:
        _, public = sm2.split(material)
        return sm2_encrypt(public, plaintext)
    if not 0 <= len(plaintext) <= max_plaintext_len(algorithm, material):
        raise ValueError("plaintext too long for the RSA key")
    return _rsa_private(material).public_key().encrypt(plaintext, _oaep(algorithm))


def decrypt(algorithm: Algorithm, material: bytes, ciphertext: bytes) -> bytes:
    """Decrypt with the private half of ``material``; any failure is :class:`CryptoError`."""
    if algorithm is Algorithm.SM2_ENCRYPT:
        return sm2_decrypt(material, ciphertext)
    private = _rsa_private(material)
    if len(ciphertext) != (private.key_size + 7) // 8:
        raise CryptoError
    try:
        return private.decrypt(ciphertext, _oaep(algorithm))
    except ValueError as exc:
        raise CryptoError from exc


def sm2_encrypt(public: bytes, plaintext: bytes) -> bytes:
    """SM2-encrypt to a 64-byte public point X||Y: DER C1C3C2. ``ValueError`` outside 1-255 bytes."""
    if len(public) != sm2.PUBLIC_LEN:
        raise ValueError("SM2 public key must be 64 bytes")
    if not SM2_MIN_PLAINTEXT <= len(plaintext) <= SM2_MAX_PLAINTEXT:
        raise ValueError("SM2 plaintext must be 1-255 bytes")
    return cast(bytes, gmssl_pyx.sm2_encrypt(public, plaintext))


def sm2_decrypt(material: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`sm2_encrypt` under SM2 material; any failure is :class:`CryptoError`."""
    private, _ = sm2.split(material)
    if not SM2_MIN_CIPHERTEXT <= len(ciphertext) <= SM2_MAX_CIPHERTEXT:
        raise CryptoError
    try:
        return cast(bytes, gmssl_pyx.sm2_decrypt(private, ciphertext))
    except (gmssl_pyx.GmsslInnerError, ValueError, TypeError) as exc:
        raise CryptoError from exc
