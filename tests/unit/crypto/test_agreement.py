"""ECDH under CMK material (skms.crypto.agreement).

Every shared secret is checked against an independent computation by the peer: ``cryptography``'s
ECDH with the peer's private key and only the CMK's public PEM (what get-publickey serves), and the
``openssl pkeyutl -derive`` command line.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from skms.crypto import agreement, material, sm2
from skms.crypto.keyspec import KeySpec

CURVES = {KeySpec.EC_P256: ec.SECP256R1(), KeySpec.EC_P384: ec.SECP384R1(), KeySpec.SECP256K1: ec.SECP256K1()}
SECRET_LEN = {KeySpec.EC_P256: 32, KeySpec.EC_P384: 48, KeySpec.SECP256K1: 32}
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


@pytest.fixture(scope="module")
def keys() -> dict[KeySpec, bytes]:
    return {spec: material.generate(spec) for spec in CURVES}


def _spki(public: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.DER, SPKI)


def _cmk_public(spec: KeySpec, key: bytes) -> ec.EllipticCurvePublicKey:
    """The CMK's public key exactly as get-publickey serves it."""
    pem = material.public_key_pem(spec, key)
    assert pem is not None
    public = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public


def _derive(spec: KeySpec, key: bytes, peer_der: bytes) -> bytes:
    return agreement.derive_shared_secret(spec, key, agreement.load_peer_key(spec, peer_der))


def test_the_curves_and_the_only_algorithm() -> None:
    assert set(agreement.CURVES) == {KeySpec.EC_P256, KeySpec.EC_P384, KeySpec.SECP256K1}
    assert [a.value for a in agreement.KeyAgreementAlgorithm] == ["ECDH"]
    assert not any(agreement.supports(spec) for spec in KeySpec if spec not in CURVES)


@pytest.mark.parametrize("spec", list(CURVES))
def test_shared_secret_equals_the_peers_independent_ecdh(keys: dict[KeySpec, bytes], spec: KeySpec) -> None:
    # Given a peer with its own key pair on the CMK's curve
    peer = ec.generate_private_key(CURVES[spec])
    # When the service derives with the peer's public key
    secret = _derive(spec, keys[spec], _spki(peer.public_key()))
    # Then the peer, holding only the CMK's public PEM, computes the same secret
    assert secret == peer.exchange(ec.ECDH(), _cmk_public(spec, keys[spec]))
    assert len(secret) == SECRET_LEN[spec]
    # And another peer gets another secret
    other = ec.generate_private_key(CURVES[spec])
    assert _derive(spec, keys[spec], _spki(other.public_key())) != secret


@pytest.mark.parametrize("spec", list(CURVES))
def test_openssl_derives_the_same_secret(keys: dict[KeySpec, bytes], spec: KeySpec, tmp_path: Path) -> None:
    peer = ec.generate_private_key(CURVES[spec])
    (tmp_path / "peer.pem").write_bytes(
        peer.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pem = material.public_key_pem(spec, keys[spec])
    assert pem is not None
    (tmp_path / "cmk.pem").write_text(pem)
    result = subprocess.run(
        ["openssl", "pkeyutl", "-derive", "-inkey", tmp_path / "peer.pem", "-peerkey", tmp_path / "cmk.pem"],
        check=False,
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == _derive(spec, keys[spec], _spki(peer.public_key()))


@pytest.mark.parametrize("spec", list(CURVES))
def test_a_compressed_peer_point_gives_the_same_secret(keys: dict[KeySpec, bytes], spec: KeySpec) -> None:
    peer = ec.generate_private_key(CURVES[spec]).public_key()
    compressed = peer.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    # SPKI with the compressed point: same AlgorithmIdentifier, shorter BIT STRING
    uncompressed = _spki(peer)
    point_len = len(
        peer.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    # SEQUENCE { AlgorithmIdentifier, BIT STRING (03 len 00 || point) }; every SPKI here is under 128
    # bytes, so the outer header is the two bytes 30 len
    algorithm_id = uncompressed[2 : -point_len - 3]
    bit_string = bytes([0x03, len(compressed) + 1, 0x00]) + compressed
    body = algorithm_id + bit_string
    spki = bytes([0x30, len(body)]) + body
    assert serialization.load_der_public_key(spki) == peer
    assert _derive(spec, keys[spec], spki) == _derive(spec, keys[spec], uncompressed)


OFF_CURVE = [
    "point of another curve",
    "SM2 point",
    "Ed25519 key",
    "RSA key",
    "off-curve point",
    "truncated",
    "trailing byte",
    "bare X9.62 point",
    "empty",
    "garbage",
]


def _peer_key_off_the_curve(spec: KeySpec, name: str) -> bytes:
    own = ec.generate_private_key(CURVES[spec]).public_key()
    on_curve = _spki(own)
    if name == "point of another curve":
        other = next(s for s in CURVES if s is not spec)
        return _spki(ec.generate_private_key(CURVES[other]).public_key())
    if name == "SM2 point":
        return sm2.public_key_der(sm2.split(sm2.generate())[1])
    if name == "Ed25519 key":
        return _spki(ed25519.Ed25519PrivateKey.generate().public_key())
    if name == "RSA key":
        return _spki(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key())
    if name == "off-curve point":
        return on_curve[:-1] + bytes([on_curve[-1] ^ 0x01])  # the last byte of Y changed
    if name == "truncated":
        return on_curve[:-1]
    if name == "trailing byte":
        return on_curve + b"\x00"
    if name == "bare X9.62 point":
        return own.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if name == "empty":
        return b""
    assert name == "garbage"
    return b"\x30\x03\x02\x01\x00"


@pytest.mark.parametrize("name", OFF_CURVE)
@pytest.mark.parametrize("spec", list(CURVES))
def test_peer_keys_off_the_curve_are_refused(spec: KeySpec, name: str) -> None:
    with pytest.raises(agreement.PeerKeyError, match=spec.value):
        agreement.load_peer_key(spec, _peer_key_off_the_curve(spec, name))


@pytest.mark.parametrize("spec", [s for s in KeySpec if s not in CURVES])
def test_other_key_specs_do_no_ecdh(spec: KeySpec) -> None:
    peer = _spki(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(agreement.AgreementError, match="ECDH"):
        agreement.load_peer_key(spec, peer)


def test_material_must_fit_the_spec(keys: dict[KeySpec, bytes]) -> None:
    peer = agreement.load_peer_key(
        KeySpec.EC_P256, _spki(ec.generate_private_key(ec.SECP256R1()).public_key())
    )
    with pytest.raises(ValueError, match="not EC_P256"):
        agreement.derive_shared_secret(KeySpec.EC_P256, keys[KeySpec.SECP256K1], peer)
    with pytest.raises(agreement.PeerKeyError):
        agreement.derive_shared_secret(KeySpec.EC_P384, keys[KeySpec.EC_P384], peer)


def test_the_peer_key_error_names_the_expected_encoding() -> None:
    with pytest.raises(agreement.PeerKeyError) as caught:
        agreement.load_peer_key(KeySpec.SECP256K1, base64.b64decode("AAAA"))
    assert "DER SubjectPublicKeyInfo" in str(caught.value)
    assert issubclass(agreement.PeerKeyError, agreement.AgreementError)
    assert issubclass(agreement.AgreementError, ValueError)
