"""ECDH under an asymmetric CMK of usage KEY_AGREEMENT (spec §5 op 25, derive-shared-secret).

The private key is the CMK material (PKCS#8 DER, :mod:`skms.crypto.material`); the peer's public key
arrives as DER SubjectPublicKeyInfo (RFC 5480) and must lie on the key's own curve.

- Curves: EC_P256 (secp256r1), EC_P384 (secp384r1), SECP256K1. §5 op 25 also names SM2, but SM2 key
  agreement (GB/T 32918.3) is a protocol of its own, not plain ECDH, and neither ``cryptography`` nor
  GmSSL's Python binding offers it: SM2 keys never get the KEY_AGREEMENT usage, and an SM2 peer key is
  refused like any other key off the curve.
- The shared secret is the raw ECDH value Z: the big-endian x-coordinate of ``d * Q``, as long as the
  field (32 or 48 bytes; SEC 1 §3.3.1, NIST SP 800-56A §5.7.1.2), exactly what ``openssl pkeyutl
  -derive`` and ``cryptography``'s ``exchange`` give. It is not uniformly random: callers must feed it
  to a KDF (HKDF, SP 800-56C) before using it as a key, as with AWS KMS DeriveSharedSecret.
- The peer point is validated when it is loaded (on the curve, not the point at infinity); every
  curve here has cofactor 1, so there are no small-subgroup points to worry about.
"""

from __future__ import annotations

import enum

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from skms.crypto.keyspec import KeySpec


class KeyAgreementAlgorithm(enum.StrEnum):
    """§5 op 25: the only documented value."""

    ECDH = "ECDH"


CURVES: dict[KeySpec, type[ec.EllipticCurve]] = {
    KeySpec.EC_P256: ec.SECP256R1,
    KeySpec.EC_P384: ec.SECP384R1,
    KeySpec.SECP256K1: ec.SECP256K1,
}


class AgreementError(ValueError):
    """A key-agreement request this module refuses."""


class PeerKeyError(AgreementError):
    """The peer public key is not a DER SubjectPublicKeyInfo of a point on the key's curve."""


def supports(spec: KeySpec) -> bool:
    return spec in CURVES


def load_peer_key(spec: KeySpec, der: bytes) -> ec.EllipticCurvePublicKey:
    """The peer's public key, checked to be on ``spec``'s curve, before any private key is touched."""
    if spec not in CURVES:
        raise AgreementError(f"{spec.value} keys do not do ECDH.")
    try:
        peer = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):  # not DER SPKI, off-curve point, or a curve we lack (SM2)
        raise PeerKeyError(_peer_key_message(spec)) from None
    if not isinstance(peer, ec.EllipticCurvePublicKey) or not isinstance(peer.curve, CURVES[spec]):
        raise PeerKeyError(_peer_key_message(spec))
    return peer


def derive_shared_secret(spec: KeySpec, material: bytes, peer: ec.EllipticCurvePublicKey) -> bytes:
    """Z = x(d * Q) for the CMK's private scalar d and the peer point Q (see the module docstring)."""
    private = serialization.load_der_private_key(material, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, CURVES[spec]):
        raise ValueError(f"not {spec.value} key material")
    if not isinstance(peer.curve, CURVES[spec]):
        raise PeerKeyError(_peer_key_message(spec))
    return private.exchange(ec.ECDH(), peer)


def _peer_key_message(spec: KeySpec) -> str:
    return f"public_key must be the Base64 of a DER SubjectPublicKeyInfo on the {spec.value} curve."
